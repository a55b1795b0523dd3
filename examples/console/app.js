// The console's MQTT side: one MQTT.js client over WebSocket, a few
// subscriptions, and every message handed to the panel that owns its topic.
// This is the part to copy into a real page (docs/EXAMPLES.md).
import mqtt from './vendor/mqtt.esm.js';
import { Devices } from './devices.js';
import { BrokerPanel } from './broker.js';
import { Explorer } from './explorer.js';

// ?ws=ws://host:port/mqtt overrides; by default the broker's ws listener is
// on port 8083 of the host that served this page (examples/demo.json).
const params = new URLSearchParams(location.search);
const url = params.get('ws') || `ws://${location.hostname || '127.0.0.1'}:8083/mqtt`;

const $ = (id) => document.getElementById(id);
$('url').textContent = url;

const client = mqtt.connect(url, {
  protocolVersion: 5,
  clientId: 'console-' + Math.random().toString(16).slice(2, 10),
  clean: true,
  keepalive: 30,
  reconnectPeriod: 2000,
  connectTimeout: 5000,
});

const devices = new Devices($('grid'), $('alerts'), (id, cmd) => {
  // Through Kafka and back: console/commands/<id> -> Kafka "commands"
  // (to_kafka rule) -> devices/<id>/commands (from_kafka rule).
  client.publish(`console/commands/${id}`, JSON.stringify(cmd), { qos: 1 });
});
const broker = new BrokerPanel();
const explorer = new Explorer(client);

function setConn(state, text) {
  $('conn').dataset.state = state;
  $('conn').textContent = text;
}

client.on('connect', () => {
  setConn('connected', 'connected');
  client.subscribe(
    {
      'devices/+/status': { qos: 1 },
      'devices/+/telemetry/+': { qos: 0 },
      'devices/+/events': { qos: 1 },
      'analytics/+': { qos: 0 },
      '$SYS/broker/#': { qos: 0 },
    },
    (err) => err && console.error('subscribe', err),
  );
  explorer.resubscribe();
});
client.on('reconnect', () => setConn('connecting', 'reconnecting…'));
client.on('offline', () => setConn('offline', 'offline'));
client.on('error', (e) => setConn('offline', 'error: ' + e.message));

client.on('message', (topic, payload) => {
  const text = new TextDecoder().decode(payload);
  explorer.message(topic, text);
  const lv = topic.split('/');
  if (lv[0] === '$SYS') return broker.sys(topic, text);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    return; // not ours: the explorer still shows it
  }
  if (lv[0] === 'devices' && lv.length >= 3) {
    if (lv[2] === 'status') devices.status(lv[1], json);
    else if (lv[2] === 'telemetry') devices.telemetry(lv[1], lv[3], json);
    else if (lv[2] === 'events') devices.event(lv[1], json);
  } else if (lv[0] === 'analytics' && lv.length === 2) {
    devices.analytics(lv[1], json);
  }
});

// for the browser test and the curious: window.sluiceConsole.client
window.sluiceConsole = { client, devices, broker };
