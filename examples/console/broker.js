// The broker panel, from $SYS/broker/# alone (sys_interval seconds apart):
// clients, message rates from the counters' deltas, and the Kafka bridge
// state from $SYS/broker/kafka/*: "down" while unreachable_ms > 0,
// "spooling" while records wait in the spool (Kafka away, or draining after
// it came back), else "producing". Both signals count: either can lead.
const HISTORY = 300; // samples in the rate chart

export class BrokerPanel {
  constructor() {
    this.last = {};
    this.rin = [];
    this.rout = [];
    this.kafka = { down: 0, spool: 0 };
  }

  kafkaState() {
    const { down, spool } = this.kafka;
    if (down > 0) this.set('kafka-state', `down ${(down / 1000).toFixed(0)} s`, 'unreachable');
    else if (spool > 0) this.set('kafka-state', 'spooling', 'spooling');
    else this.set('kafka-state', 'producing', 'producing');
  }

  set(id, text, state) {
    const el = document.getElementById(id);
    el.textContent = text;
    if (state) el.dataset.state = state;
  }

  rate(name, v, series, id) {
    const now = performance.now(), prev = this.last[name];
    this.last[name] = { v, t: now };
    if (!prev || now - prev.t < 200) return;
    const r = Math.max(0, ((v - prev.v) * 1000) / (now - prev.t));
    this.set(id, r.toFixed(0));
    series.push(r);
    if (series.length > HISTORY) series.shift();
    this.chart();
  }

  chart() {
    const hi = Math.max(1, ...this.rin, ...this.rout);
    const n = Math.max(this.rin.length - 1, 30); // fill the width early on, scroll later
    const pts = (s) => s.map((v, i) => `${(i * 300) / n},${58 - (v / hi) * 55}`).join(' ');
    document.getElementById('rate-line-in').setAttribute('points', pts(this.rin));
    document.getElementById('rate-line-out').setAttribute('points', pts(this.rout));
  }

  sys(topic, text) {
    const v = Number(text);
    switch (topic) {
      case '$SYS/broker/clients/connected':
        return this.set('clients', text);
      case '$SYS/broker/messages/received':
        return this.rate('in', v, this.rin, 'rate-in');
      case '$SYS/broker/messages/sent':
        return this.rate('out', v, this.rout, 'rate-out');
      case '$SYS/broker/kafka/unreachable_ms':
        this.kafka.down = v;
        return this.kafkaState();
      case '$SYS/broker/kafka/spool/depth':
        this.kafka.spool = v;
        this.set('spool', text);
        return this.kafkaState();
      case '$SYS/broker/kafka/consumer_lag':
        return this.set('lag', text);
      case '$SYS/broker/kafka/acknowledged':
        return this.set('produced', text);
    }
  }
}
