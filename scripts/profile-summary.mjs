// Summarises a V8 .cpuprofile (node --cpu-prof): self and total time per function, top N.
// Usage: node scripts/profile-summary.mjs file.cpuprofile [N]
import { readFileSync } from 'node:fs';
const [file, top = '30'] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const total = prof.samples.length;
const self = new Map();
const incl = new Map();
const key = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(node_modules\/)?/, '')}:${n.callFrame.lineNumber + 1}`;
for (const id of prof.samples) {
  let n = byId.get(id);
  self.set(key(n), (self.get(key(n)) ?? 0) + 1);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur));
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + 1);
  }
}
const pct = (v) => ((100 * v) / total).toFixed(1).padStart(5) + '%';
console.log(`samples ${total}\n-- self --`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(pct(v), k);
console.log('-- total --');
for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(pct(v), k);
