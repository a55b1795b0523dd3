#!/usr/bin/env python3
"""Turns run.sh's results.tsv into docs/BENCHMARKS.md and gnuplot SVG charts.

Columns: broker scenario round msgs_per_s p99_us cpu_s rss0_kb rss1_kb ready
setup_conns_per_s delivered_total slab0_kb slab1_kb acks_per_s lost dups qos sent
acked expected delivered p50_us ("NA" where unknown). msgs_per_s counts first
deliveries that arrived in the measured window (in the bridge scenario:
records read back from Kafka); sent..delivered count the window's messages,
lost those not delivered by the end of the drain (QoS > 0: of the
acknowledged ones only), acks_per_s is the bridge's. The cluster scenario
has two kinds of rows: "cluster" (node 1 -> Kafka -> node 2) and
"cluster-single" (the same load on one sluice, same run)."""
import argparse
import datetime
import os
import statistics
import subprocess

p = argparse.ArgumentParser()
for a in ("results", "out", "machine", "command", "mosquitto", "sluice", "note", "lat-rate",
          "lat-rate-pairs1", "lat-rate-fanin1", "conns", "tls-conns", "duration", "cluster-rate",
          "cluster-pairs"):
    p.add_argument("--" + a, default="")
args = p.parse_args()

NCOLS = 22
rows = []
with open(args.results) as f:
    for line in f:
        c = line.rstrip("\n").split("\t")
        if len(c) < 10:
            continue
        rows.append(c + ["NA"] * (NCOLS - len(c)))


def num(x):
    try:
        return float(x)
    except ValueError:
        return None


def med(broker, scen, fn):
    vals = []
    for r in rows:
        if r[0] == broker and r[1] == scen:
            v = fn(r)
            if v is not None:
                vals.append(v)
    return (statistics.median(vals), len(vals)) if vals else (None, 0)


def col(i):
    return lambda r: num(r[i])


def cpu_per_million(r):
    cpu, d = num(r[5]), num(r[10])
    return cpu / (d / 1e6) if cpu is not None and d else None


def rss_per_conn(r):  # bytes of broker RSS per held connection
    a, b, n = num(r[6]), num(r[7]), num(r[8])
    return (b - a) * 1024 / n if None not in (a, b, n) and n else None


def kern_per_conn(r):  # kernel slab per connection, broker end only (half of both ends)
    a, b, n = num(r[11]), num(r[12]), num(r[8])
    return (b - a) * 1024 / n / 2 if None not in (a, b, n) and n else None


def loss(broker, scen):
    """(lost, base, qos) summed over the rounds: base is what had to arrive,
    the acknowledged deliveries at QoS > 0. None when no round reports it."""
    lost = base = 0
    qos = None
    seen = False
    for r in rows:
        if r[0] != broker or r[1] != scen:
            continue
        lo, q, sent, acked, exp = (num(r[i]) for i in (14, 16, 17, 18, 19))
        if lo is None or q is None or sent is None or exp is None:
            continue
        seen = True
        qos = int(q)
        lost += lo
        if qos and acked is not None:
            base += acked * (exp / sent if sent else 0)
        else:
            base += exp
    return (lost, base, qos) if seen else None


def lossy(lq):  # a QoS >= 1 figure whose messages were acknowledged, then lost
    return lq is not None and lq[2] and lq[0] > 0


def fmt_loss(lq):
    if lq is None:
        return "n/a"
    lost, base, _ = lq
    pct = 100.0 * lost / base if base else 0.0
    s = f"{lost:,.0f}" + (f" ({pct:.2g}%)" if lost else "")
    return f"**{s} LOSS**" if lossy(lq) else s


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def ratio(a, b, lower_better=False):
    if a is None or b is None or a == 0 or b == 0:
        return "n/a"
    return f"{(b / a if lower_better else a / b):.2f}x"


scen_present = {r[1] for r in rows}
lines = []
table = []
# (scenario, label, value, lower is better, has a loss column)
spec = [
    ("pairs", "pairs: 100 pub/sub pairs, QoS 0, 16 B (delivered msg/s)", col(3), False, True),
    ("fanout", "fanout: 1 -> 1000 subscribers, QoS 0 (deliveries/s)", col(3), False, True),
    ("fanin", "fanin: 1000 publishers -> 1 subscriber, QoS 1, window 8192 (delivered msg/s)",
     col(3), False, True),
    ("latency", f"latency: p99 at {args.lat_rate} msg/s offered, 100 pairs QoS 0 (us)", col(4),
     True, True),
    ("pairs1", "pairs QoS 1: 100 pairs, 64 in flight each, no global window (delivered msg/s)",
     col(3), False, True),
    ("fanin1", "fanin QoS 1: 1000 -> 1, 64 in flight each, no global window (delivered msg/s)",
     col(3), False, True),
    ("lat-pairs1", f"pairs QoS 1 latency: p99 at {args.lat_rate_pairs1} msg/s offered (us)",
     col(4), True, True),
    ("lat-fanin1", f"fanin QoS 1 latency: p99 at {args.lat_rate_fanin1} msg/s offered (us)",
     col(4), True, True),
    ("ws", "WebSocket pairs: 100 pairs, QoS 0 (delivered msg/s)", col(3), False, True),
    ("mqtts", "TLS pairs: 100 pairs, QoS 0 (delivered msg/s)", col(3), False, True),
    ("mqtts1", "TLS pairs QoS 1: 64 in flight each, no global window (delivered msg/s)", col(3),
     False, True),
    ("wss", "secure WebSocket pairs: 100 pairs, QoS 0 (delivered msg/s)", col(3), False, True),
    ("wss1", "secure WebSocket pairs QoS 1: 64 in flight each, no global window "
     "(delivered msg/s)", col(3), False, True),
    ("mqtts-conns", f"TLS: {args.tls_conns} connections, setup rate with full handshakes "
     "(conns/s)", col(9), False, False),
    ("mqtts-conns", "TLS: broker RSS per idle connection (bytes)", rss_per_conn, True, False),
    ("wss-conns", f"secure WebSocket: {args.tls_conns} connections, setup rate (conns/s)",
     col(9), False, False),
    ("wss-conns", "secure WebSocket: broker RSS per idle connection (bytes)", rss_per_conn, True,
     False),
    ("ws-conns", f"WebSocket: {args.tls_conns} connections, setup rate (conns/s)", col(9), False,
     False),
    ("ws-conns", "WebSocket: broker RSS per idle connection (bytes)", rss_per_conn, True, False),
    ("conns", f"conns: {args.conns} idle connections, setup rate (conns/s)", col(9), False, False),
    ("conns", "conns: connections held", col(8), False, False),
    ("pairs-auth", "pairs with auth: password file + 1,000-rule ACL, 100 pairs QoS 0 (delivered "
     "msg/s)", col(3), False, True),
    ("conns-auth", "conns with auth: setup rate with PBKDF2 ($7$, 101 iterations) passwords "
     "(conns/s)", col(9), False, False),
    ("bridge", "bridge: 100 QoS 1 publishers into Kafka (ack: kafka) -> records/s read back "
     "from Kafka", col(3), False, True),
    ("bridge", "bridge: PUBACKs/s (each one: the record is in Kafka)", col(13), False, False),
    ("bridge", "bridge: p99 MQTT publish -> Kafka consumer at that load (us)", col(4), True, False),
    ("cluster", f"cluster: 3 sluice nodes joined by Kafka (mock, 3 brokers), {args.cluster_pairs} "
     f"QoS 1 pairs at {args.cluster_rate} msg/s offered, publishers on node 1, subscribers on "
     "node 2 (delivered msg/s)", col(3), False, True),
    ("cluster-single", f"cluster: single-node figure of the same run (one sluice, no cluster, "
     "same load; delivered msg/s)", col(3), False, True),
    ("cluster", "cluster: p50 / p99 node 1 -> Kafka -> node 2 at that load (us)", None, True,
     False),
    ("cluster-single", "cluster: single-node p50 / p99 at the same load (us)", None, True, False),
]
NO_KAFKA = "n/a (no Kafka bridge)"
NO_CLUSTER = "n/a (no cluster through Kafka)"
chart = []
for scen, label, fn, lower, has_loss in spec:
    if scen not in scen_present:
        continue
    s, ns = med("sluice", scen, fn) if fn else (None, 0)
    ls = loss("sluice", scen) if has_loss else None
    sl = fmt_loss(ls) if has_loss else ""
    mark_s = " LOSS" if lossy(ls) else ""
    if scen == "bridge":  # Mosquitto has no Kafka bridge: nothing to compare
        table.append(f"| {label} | {fmt(s)}{mark_s} | {sl} | {NO_KAFKA} | | |")
        continue
    if scen.startswith("cluster"):  # nor a cluster through Kafka
        if fn is None:  # the latency row: medians of p50 and p99
            p50, _ = med("sluice", scen, col(21))
            s = f"{fmt(p50)} / {fmt(med('sluice', scen, col(4))[0])}"
        else:
            s = f"{fmt(s)}{mark_s}"
        table.append(f"| {label} | {s} | {sl} | {NO_CLUSTER} | | |")
        continue
    m, nm = med("mosquitto", scen, fn)
    lm = loss("mosquitto", scen) if has_loss else None
    ml = fmt_loss(lm) if has_loss else ""
    mark_m = " LOSS" if lossy(lm) else ""
    r = ratio(s, m, lower)
    if mark_s or mark_m:
        r += " (LOSS)"
    table.append(f"| {label} | {fmt(s)}{mark_s} | {sl} | {fmt(m)}{mark_m} | {ml} | {r} |")
    if scen in ("pairs", "fanout", "fanin", "pairs1", "fanin1", "ws") and fn is not None:
        chart.append((scen, s or 0, m or 0))

extra = []
if "pairs" in scen_present:
    s, _ = med("sluice", "pairs", cpu_per_million)
    m, _ = med("mosquitto", "pairs", cpu_per_million)
    extra.append(f"| pairs: broker CPU seconds per million delivered messages | {fmt(s)} | | "
                 f"{fmt(m)} | | {ratio(s, m, True)} |")
if "conns" in scen_present:
    for b in ("sluice", "mosquitto"):
        pass
    rs, _ = med("sluice", "conns", rss_per_conn)
    rm, _ = med("mosquitto", "conns", rss_per_conn)
    ks, _ = med("sluice", "conns", kern_per_conn)
    km, _ = med("mosquitto", "conns", kern_per_conn)
    extra.append(f"| conns: broker RSS per connection (bytes) | {fmt(rs)} | | {fmt(rm)} | | "
                 f"{ratio(rs, rm, True)} |")
    extra.append(f"| conns: kernel memory per connection, estimate (bytes) | {fmt(ks)} | | "
                 f"{fmt(km)} | | |")

    def proj(r, k):
        return None if r is None or k is None else (r + k) * 1e6 / 2**30

    extra.append(f"| conns: projection for 1,000,000 connections (GiB, RSS + kernel) | "
                 f"{fmt(proj(rs, ks))} | | {fmt(proj(rm, km))} | | |")
if "bridge" in scen_present:
    br = [r for r in rows if r[0] == "sluice" and r[1] == "bridge"]

    def total(i):
        vals = [num(r[i]) for r in br]
        return None if None in vals or not vals else sum(vals)

    def count(v):
        return "n/a" if v is None else f"{v:,.0f}"

    extra.append(f"| bridge: records lost / duplicated, all {len(br)} round(s) | "
                 f"{count(total(14))} / {count(total(15))} | | {NO_KAFKA} | | |")
if "cluster" in scen_present:
    cs, _ = med("sluice", "cluster", cpu_per_million)
    c1, _ = med("sluice", "cluster-single", cpu_per_million)
    extra.append(f"| cluster: CPU seconds per million delivered, three nodes / one node | "
                 f"{fmt(cs)} / {fmt(c1)} | | {NO_CLUSTER} | | |")
for scen, what in (("cluster", "cross-node"), ("cluster-single", "single-node")):
    if scen not in scen_present:
        continue
    cr = [r for r in rows if r[0] == "sluice" and r[1] == scen]
    ok = [r for r in cr if num(r[17]) is not None]

    def tot(i):
        return f"{sum(num(r[i]) or 0 for r in ok):,.0f}"

    extra.append(f"| cluster: {what} sent / acked / lost / duplicated, {len(ok)} of {len(cr)} "
                 f"round(s) with a figure | {tot(17)} / {tot(18)} / {tot(14)} / {tot(15)} | | "
                 f"{NO_CLUSTER} | | |")

now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
out = []
out.append("# Benchmarks: sluice side by side with Mosquitto\n")
out.append("Generated by `tests/bench/run.sh` (via `make bench`); do not edit by hand.\n")
out.append(f"- Date: {now}")
out.append(f"- Machine: {args.machine}")
out.append(f"- Command: `{args.command}`")
out.append(f"- Brokers: sluice {args.sluice}, Mosquitto {args.mosquitto}")
if args.note:
    out.append(f"- **Note:** {args.note}")
out.append("- Generator: `sluice-bench` (tests/bench), epoll, its own MQTT/WebSocket codec, "
           "same machine, loopback only.\n")
out.append("Medians over the rounds; each round starts a fresh broker, and the brokers "
           "alternate (sluice, Mosquitto, sluice, ...). Ratio = sluice / Mosquitto for rates, "
           "Mosquitto / sluice for latency, CPU and memory (above 1 = sluice better).\n")
out.append("| scenario | sluice | sluice lost | Mosquitto | Mosquitto lost | ratio |")
out.append("|---|---:|---:|---:|---:|---:|")
out += table + extra
out.append("")
out.append("![throughput](bench/throughput.svg)\n")
out.append("![latency](bench/latency.svg)\n")
out.append("## How to read these numbers\n")
how = (f"""- Each broker's default queue limit (1,000 messages per client for both), max in-flight 64
  for both (the generator's per-publisher window; defaults 32 and 20),
  no persistence to disk, fd limit 20,000. Mosquitto runs with its default Nagle
  setting for the throughput figures and `set_tcp_nodelay true` for the latency figure.
- Throughput counts only what arrived: first deliveries subscribers received per
  second during the {args.duration} s measured window (after warmup); a duplicate or
  a message acknowledged and then dropped adds nothing. In the pairs, fanout, fanin,
  latency and ws rows publishers keep at most 8,192 deliveries in flight end to end
  (`--window`); the QoS 1 rows pairs1/fanin1 (and their latency rows) have no such
  window (`--window 0`): only each publisher's own 64 unacknowledged messages limit
  it, as with an independent load generator, so a broker that acknowledges faster
  than it delivers shows it here.
- Lost: messages sent in the window, summed over the rounds, that a subscriber had
  not received by the end of the drain (up to 5 s), counted per (publisher, sequence)
  and subscriber; at QoS 1 only messages the broker acknowledged count (percentage of
  the acknowledged deliveries), at QoS 0 every one sent (a QoS 0 broker may drop
  under overload). A QoS >= 1 figure with any loss is marked **LOSS**, and so is its
  ratio: acknowledged, then dropped, is a broken promise, not a throughput.
- Latency: publish timestamp (CLOCK_MONOTONIC, in the payload) to the subscriber's
  read, at a fixed offered load of half Mosquitto's measured maximum of the same
  scenario (pairs QoS 0, pairs1, fanin1), so both brokers get the same load.
- CPU: the broker's utime+stime over the whole bench run (setup, warmup, window, drain)
  divided by every message delivered in that run.
- conns: {args.conns} connections from 4 generator processes over 16 source addresses
  (127.0.0.2-17), keepalive 300 s, held for the duration. RSS per connection is the
  broker's VmRSS growth divided by connections; kernel memory is the growth of the
  kernel slab (both ends of each loopback connection, halved); the projection adds
  both and multiplies by 1,000,000 (socket buffers of idle connections are not counted).
- mqtts/wss rows: the same scenarios over TLS (TLS 1.3, one throwaway self-signed P-256
  certificate for both brokers, no client certificate, no session resumption: every
  connection is a full handshake). The *-conns rows hold {args.tls_conns} idle
  connections (4 generator processes) for the setup rate and the broker's RSS growth
  per connection.
- The generator and the broker share the 2 cores; the generator uses
  `BENCH_THREADS` threads (1 by default) and never more CPU than the broker in these runs.
""")
if "bridge" in scen_present:
    how += """- bridge: sluice with one `to_kafka` rule (`bench/bridge/#` -> one Kafka topic,
  `format: raw`, `ack: kafka`, producer defaults) into librdkafka's mock cluster
  (`sluice-kafka-mock`, a separate process, fresh each round). 100 publishers, QoS 1,
  16 B, at most 64 unacknowledged each, no MQTT subscribers. A librdkafka consumer in
  sluice-bench, assigned to every partition at its end before the publishers connect,
  reads the records back: records/s is what it read during the window, latency is the
  payload's publish timestamp to the consumer's read, at that (maximum) load, so it
  includes the PUBACK-bounded queue, the producer's `linger.ms` (5) and the consumer's
  1 ms fetch wait. A PUBACK means Kafka acknowledged the record. Lost: sent in the
  window and not read back by the end of the drain; duplicates: a (publisher,
  sequence) read twice. A round with a lost record gives no figure. The mock cluster
  keeps everything in memory and shares the 2 cores: this is the bridge's cost in
  sluice, not a Kafka cluster's throughput. Mosquitto has no Kafka bridge: n/a.
"""
else:
    how += """- The Kafka bridge end to end (MQTT -> sluice -> Kafka -> consumer) is not in this
  run: `tests/bench/run.sh bridge` measures it (sluice only; Mosquitto has no Kafka bridge).
"""
if "cluster" in scen_present:
    how += f"""- cluster: three sluice nodes (`cluster.enabled`, `partitions: 4`) joined only by
  librdkafka's mock cluster (`sluice-kafka-mock --brokers 3`, the four internal topics created
  with 4 partitions, a separate process, fresh each round); {args.cluster_pairs} QoS 1 pairs, 16 B, 64 in flight each, no global window,
  {args.cluster_rate} msg/s offered in total: publishers on node 1, their subscribers on
  node 2, so every message crosses Kafka (`sluice.msgs`). The load starts once node 1's
  `/metrics` shows `sluice_cluster_remote_filters` >= {args.cluster_pairs} (node 1 knows node
  2's subscriptions; bounded to 30 s, else no figure). Latency is publish (node 1) to the
  subscriber's read (node 2). The single-node row is the same load against one sluice
  without a cluster, in the same run, rounds alternating which goes first. The mock keeps
  everything in memory and shares the 2 cores with three brokers and the generator: this is
  the cluster's cost in sluice, not a Kafka cluster's. Mosquitto has no cluster through
  Kafka: n/a.
"""
out.append(how)
out.append("## Raw rows\n")
out.append("broker, scenario, round, delivered msg/s, p99 us, cpu s, rss before/after kB, ready, "
           "setup conns/s, delivered in the run, acks/s (bridge), then for the window: lost, "
           "duplicated, qos, sent, acked, expected, delivered, p50 us\n")
out.append("```")
for r in rows:
    out.append(" ".join(r[:11] + r[13:NCOLS]))
out.append("```")
os.makedirs(os.path.join(args.out, "bench"), exist_ok=True)
with open(os.path.join(args.out, "BENCHMARKS.md"), "w") as f:
    f.write("\n".join(out) + "\n")


def gnuplot(name, data, ylabel, title, log):
    dat = os.path.join(args.out, "bench", name + ".dat")
    with open(dat, "w") as f:
        for label, s, m in data:
            f.write(f'"{label}" {s} {m}\n')
    svg = os.path.join(args.out, "bench", name + ".svg")
    script = f"""set terminal svg size 720,420 dynamic font "sans,12"
set output '{svg}'
set title '{title}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel '{ylabel}'
set grid ytics
set key top right
{"set logscale y" if log else ""}
set yrange [{"1" if log else "0"}:*]
plot '{dat}' using 2:xtic(1) title 'sluice' lc rgb '#2b7bba', '' using 3 title 'Mosquitto' lc rgb '#e0803c'
"""
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report.py: gnuplot failed for {name}: {e}")
    os.remove(dat)


if chart:
    gnuplot("throughput", chart, "messages per second (log)", "Throughput, medians", True)
lat = []
for scen, rate in (("latency", args.lat_rate), ("lat-pairs1", args.lat_rate_pairs1),
                   ("lat-fanin1", args.lat_rate_fanin1)):
    if scen in scen_present:
        s, _ = med("sluice", scen, col(4))
        m, _ = med("mosquitto", scen, col(4))
        lat.append((f"{scen} p99 at {rate} msg/s", s or 0, m or 0))
if lat:
    gnuplot("latency", lat, "microseconds", "p99 latency at half of the Mosquitto maximum", False)
