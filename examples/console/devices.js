// The device grid and the alerts list. State changes on every message;
// the DOM is redrawn at most every 250 ms for the cards that changed, so
// 50 devices at several messages a second stay cheap.
const SPARK = 60; // temperature readings kept per sparkline

export class Devices {
  constructor(grid, alerts, send) {
    this.grid = grid;
    this.alerts = alerts;
    this.send = send;
    this.tpl = document.getElementById('card-tpl');
    this.devs = new Map();
    this.dirty = new Set();
    this.pending = new Map(); // req -> {id, cmd, t0}
    this.nAlerts = 0;
    setInterval(() => this.render(), 250);
  }

  dev(id) {
    let d = this.devs.get(id);
    if (d) return d;
    const el = this.tpl.content.firstElementChild.cloneNode(true);
    el.dataset.device = id;
    el.querySelector('.id').textContent = id;
    el.querySelectorAll('button[data-cmd]').forEach((b) =>
      b.addEventListener('click', () => this.command(id, b.dataset.cmd)),
    );
    d = { id, el, online: undefined, vals: {}, spark: [], rate: 1, analytics: null };
    this.devs.set(id, d);
    // keep the grid sorted by id
    const after = [...this.grid.children].find((c) => c.dataset.device > id);
    this.grid.insertBefore(el, after || null);
    document.getElementById('device-count').textContent = `(${this.devs.size})`;
    return d;
  }

  touch(d) {
    this.dirty.add(d);
  }

  status(id, j) {
    const d = this.dev(id);
    d.online = !!j.online;
    d.reason = j.reason || (j.online ? '' : 'will');
    this.touch(d);
  }

  telemetry(id, metric, j) {
    const d = this.dev(id);
    if (typeof j.value !== 'number') return;
    d.vals[metric] = j.value;
    if (metric === 'temperature') {
      d.spark.push(j.value);
      if (d.spark.length > SPARK) d.spark.shift();
    }
    this.touch(d);
  }

  analytics(id, j) {
    const d = this.dev(id);
    d.analytics = j;
    this.touch(d);
    for (const [metric, m] of Object.entries(j.metrics || {}))
      if (m.anomaly) this.alert(id, `${metric} ${m.last.toFixed(1)} (z ${m.z.toFixed(1)}, mean ${m.mean.toFixed(1)})`);
  }

  event(id, j) {
    const d = this.dev(id);
    if (j.event !== 'ack') return;
    if (typeof j.rate === 'number') d.rate = j.rate;
    const p = this.pending.get(j.req);
    const rtt = p ? ` in ${Math.round(performance.now() - p.t0)} ms` : '';
    this.pending.delete(j.req);
    d.ack = { ok: j.ok, text: `${j.ok ? 'ack' : 'refused'} ${j.cmd}${rtt}${j.error ? ': ' + j.error : ''}` };
    this.touch(d);
  }

  command(id, name) {
    const d = this.dev(id);
    const req = Math.random().toString(36).slice(2, 10);
    const cmd = { cmd: name, req };
    if (name === 'set_rate') cmd.rate = Math.min(d.rate * 2, 16);
    this.pending.set(req, { id, t0: performance.now() });
    d.ack = { ok: null, text: `sent ${name}…` };
    this.touch(d);
    this.send(id, cmd);
  }

  alert(id, text) {
    const li = document.createElement('li');
    li.innerHTML = `<time></time> <b></b> <span></span>`;
    li.querySelector('time').textContent = new Date().toLocaleTimeString();
    li.querySelector('b').textContent = id;
    li.querySelector('span').textContent = text;
    this.alerts.prepend(li);
    while (this.alerts.children.length > 50) this.alerts.lastChild.remove();
    document.getElementById('alert-count').textContent = `(${++this.nAlerts})`;
  }

  render() {
    for (const d of this.dirty) this.renderCard(d);
    this.dirty.clear();
  }

  renderCard(d) {
    const el = d.el;
    el.dataset.online = d.online === undefined ? 'unknown' : String(d.online);
    el.querySelector('.state').textContent =
      d.online === undefined ? '' : d.online ? 'online' : `offline (${d.reason})`;
    const fmt = { temperature: (v) => `${v.toFixed(1)} °C`, humidity: (v) => `${v.toFixed(0)} %`, battery: (v) => `bat ${v.toFixed(0)}%` };
    for (const k of Object.keys(fmt))
      if (d.vals[k] !== undefined) el.querySelector('.' + k).textContent = fmt[k](d.vals[k]);
    if (d.spark.length > 1) {
      const lo = Math.min(...d.spark), hi = Math.max(...d.spark), span = hi - lo || 1;
      el.querySelector('.spark polyline').setAttribute(
        'points',
        d.spark.map((v, i) => `${(i * 100) / Math.max(d.spark.length - 1, 20)},${22 - ((v - lo) / span) * 20}`).join(' '),
      );
    }
    if (d.analytics) {
      const t = (d.analytics.metrics || {}).temperature;
      const a = el.querySelector('.analytics');
      a.dataset.count = t ? t.count : 0;
      a.textContent = t
        ? `${d.analytics.window_s}s: n ${t.count}, mean ${t.mean.toFixed(1)}, p95 ${t.p95.toFixed(1)}, ${t.min.toFixed(1)}…${t.max.toFixed(1)}`
        : 'analytics: no temperature yet';
      el.classList.toggle('anomaly', !!d.analytics.anomaly);
    }
    if (d.ack) {
      const a = el.querySelector('.ack');
      a.textContent = d.ack.text;
      a.className = 'ack small ' + (d.ack.ok === null ? 'muted' : d.ack.ok ? 'ok' : 'err');
    }
  }
}
