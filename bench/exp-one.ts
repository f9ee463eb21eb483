// EXPERIMENT (not committed)
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInfluxd } from '../gateway/storage/influxd.js';
import { measureGateway } from './lib/throughput.js';
const [q = '0', n = '100000', rounds = '3'] = process.argv.slice(2);
const influx = await startInfluxd({ dataDir: await mkdtemp(join(tmpdir(), 'exp-')) });
for (let r = 0; r < Number(rounds); r++) {
  for (const args of ['', '--max-semi-space-size=64']) {
    process.env['BENCH_NODE_ARGS'] = args;
    const m = await measureGateway(influx.url, { readings: Number(n), devices: 100, window: 2000, bounded: true }, { qos: Number(q) as 0 | 1, label: 'x' });
    console.log('RESULT', args || 'default', Math.round(m.rate), m.serverUsPerMessage?.toFixed(1));
  }
}
await influx.stop();
