// The topic explorer: subscribe to any filter, see its messages live,
// publish a test message. Its subscriptions are its own (the panels' are
// made in app.js), so messages are shown only if they match one of them.
const MAX = 200;

function matches(filter, topic) {
  const f = filter.split('/'), t = topic.split('/');
  if (t[0].startsWith('$') && !f[0].startsWith('$')) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

export class Explorer {
  constructor(client) {
    this.client = client;
    this.filters = new Set();
    this.list = document.getElementById('messages');
    document.getElementById('sub-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const f = document.getElementById('sub-filter').value.trim();
      if (!f) return;
      this.filters.add(f);
      client.subscribe(f, { qos: 1 });
      this.showSubs();
    });
    document.getElementById('unsub').addEventListener('click', () => {
      for (const f of this.filters) client.unsubscribe(f);
      this.filters.clear();
      this.showSubs();
    });
    document.getElementById('pub-form').addEventListener('submit', (e) => {
      e.preventDefault();
      client.publish(document.getElementById('pub-topic').value, document.getElementById('pub-payload').value, {
        qos: Number(document.getElementById('pub-qos').value),
        retain: document.getElementById('pub-retain').checked,
      });
    });
  }

  resubscribe() {
    for (const f of this.filters) this.client.subscribe(f, { qos: 1 });
  }

  showSubs() {
    document.getElementById('subs').textContent = this.filters.size
      ? 'subscribed: ' + [...this.filters].join(', ')
      : 'no subscriptions';
  }

  message(topic, text) {
    if (![...this.filters].some((f) => matches(f, topic))) return;
    const li = document.createElement('li');
    const code = document.createElement('code');
    code.textContent = topic;
    li.append(code, ' ' + text.slice(0, 500));
    this.list.prepend(li);
    while (this.list.children.length > MAX) this.list.lastChild.remove();
  }
}
