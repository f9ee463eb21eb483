/**
 * Loaded into a gateway process by the abuse tests (`--import …/gc-probe.ts`, after tsx),
 * never by the gateway itself. On SIGUSR2 it asks V8, through the inspector protocol, for a
 * full collection of everything collectable (HeapProfiler.collectGarbage), twice, then prints
 * one JSON line `gc-probe` with process.memoryUsage(). The test then reads VmRSS knowing that
 * what is resident is what the gateway keeps, not garbage V8 has not got round to freeing.
 *
 * Why the inspector: plain `global.gc()` (even several major collections) left the backing
 * stores of dead Buffers unreleased here (~100 MiB after 120 MB of 200 kB payloads had passed
 * through a well-behaved session), whereas HeapProfiler.collectGarbage releases them.
 */
import { Session } from 'node:inspector';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function collect(): Promise<void> {
  const session = new Session();
  session.connect();
  try {
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve) => session.post('HeapProfiler.collectGarbage', () => resolve()));
      await pause(50);
    }
  } finally {
    session.disconnect();
  }
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'gc-probe', rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
}

process.on('SIGUSR2', () => void collect());
