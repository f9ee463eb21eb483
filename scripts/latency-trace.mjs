/**
 * Reads a latency trace (`BENCH_LATENCY_TRACE=<file> npm run bench -- --only latency …`): the
 * percentiles, latency over time in buckets (BUCKET ms, default 100), the largest burst of
 * commands received within 5 ms, and each command's time split at the moment the rules made it.
 * Each bucket also gives the spread of its clients' medians (probe `lat-N` comes from client
 * N mod ZONES, default 50, as bench/lib/latency.ts sends them): a backlog of the whole gateway
 * delays every client alike; one client's reads held back (its acknowledgements waiting) would not.
 * usage: node scripts/latency-trace.mjs <trace.jsonl> [first N probes: one run of several]
 */
import { readFileSync } from 'node:fs';
const [file, nArg] = process.argv.slice(2);
let rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
if (nArg) rows = rows.slice(0, Number(nArg));
rows = rows.filter((r) => r.received !== null).map((r) => ({ ...r, lat: r.received - r.sent }));
rows.sort((a, b) => a.sent - b.sent);
const t0 = rows[0].sent;
const lats = rows.map((r) => r.lat).sort((a, b) => a - b);
const p = (q) => lats[Math.min(lats.length - 1, Math.floor((q / 100) * lats.length))];
console.log('n', rows.length, 'p50', p(50).toFixed(2), 'p90', p(90).toFixed(2), 'p99', p(99).toFixed(2), 'max', lats.at(-1).toFixed(1));
const B = Number(process.env.BUCKET ?? 100);
const ZONES = Number(process.env.ZONES ?? 50);
const median = (xs) => [...xs].sort((a, c) => a - c)[xs.length >> 1];
const buckets = new Map();
for (const r of rows) {
  const b = Math.floor((r.sent - t0) / B);
  const x = buckets.get(b) ?? [];
  x.push(r);
  buckets.set(b, x);
}
const line = [];
for (const [b, rs] of [...buckets].sort((a, b) => a[0] - b[0])) {
  const xs = rs.map((r) => r.lat).sort((a, c) => a - c);
  const byClient = new Map();
  for (const r of rs) {
    const c = Number(r.id.slice(r.id.lastIndexOf('-') + 1)) % ZONES;
    byClient.set(c, [...(byClient.get(c) ?? []), r.lat]);
  }
  const clients = [...byClient.values()].map(median).sort((a, c) => a - c);
  line.push(`${(b * B / 1000).toFixed(1)}s n=${xs.length} med=${xs[xs.length >> 1].toFixed(1)} max=${xs.at(-1).toFixed(1)} client medians ${clients[0].toFixed(1)}–${clients.at(-1).toFixed(1)}`);
}
console.log(line.join('\n'));
// receive-time bursts: the most commands received within any 5 ms
const recv = rows.map((r) => r.received).sort((a, b) => a - b);
let maxBurst = 0;
for (let i = 0, j = 0; i < recv.length; i++) { while (recv[i] - recv[j] > 5) j++; maxBurst = Math.max(maxBurst, i - j + 1); }
console.log('max commands received within 5 ms:', maxBurst);
// split: sent → made (ingest + rules) and made → received (egress + actuator)
const made = rows.filter((r) => r.made != null);
if (made.length > 0) {
  const a = made.map((r) => r.made - r.sent).sort((x, y) => x - y), b = made.map((r) => r.received - r.made).sort((x, y) => x - y);
  const q = (xs, v) => xs[Math.min(xs.length - 1, Math.floor((v / 100) * xs.length))].toFixed(2);
  console.log('sent→made p50', q(a, 50), 'p90', q(a, 90), 'p99', q(a, 99), '| made→received p50', q(b, 50), 'p90', q(b, 90), 'p99', q(b, 99));
  const slow = made.filter((r) => r.lat >= p(99));
  const sa = slow.map((r) => r.made - r.sent).sort((x, y) => x - y), sb = slow.map((r) => r.received - r.made).sort((x, y) => x - y);
  console.log('slowest 1%: sent→made median', q(sa, 50), '| made→received median', q(sb, 50));
}
