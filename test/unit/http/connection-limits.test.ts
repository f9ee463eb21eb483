/**
 * The per-address count of open HTTP connections is bounded (100,000 addresses): past it an
 * address's count is forgotten, which lifts HTTP_MAX_CONNECTIONS_PER_ADDRESS for it, so that is
 * counted in /metrics and said (warn) once.
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { HttpConnectionLimits } from '../../../gateway/http/connection-limits.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

/** What the limits read of a socket: its address, and its 'close'. */
class FakeSocket extends EventEmitter {
  constructor(readonly remoteAddress: string) {
    super();
  }
  destroy(): void {
    this.emit('close');
  }
}

describe('HTTP connection limits', () => {
  it('counts the addresses forgotten past 100,000 with connections open, and warns once', async () => {
    const metrics = testMetrics(new ManualClock(0));
    const { lines, stream } = captureLogs();
    const limits = new HttpConnectionLimits({ limits: { maxConnections: 0, maxPerAddress: 1, headersTimeoutMs: 0 }, metrics, log: createLogger('info', stream) });
    // 'connection' is all the limits listen to for this bound: 100,000 addresses' sockets need no real ones.
    const server = new EventEmitter();
    limits.apply(server as unknown as Server);
    const open = (address: string) => server.emit('connection', new FakeSocket(address));
    for (let i = 0; i < 100_000; i++) open(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(await count(metrics, 'gateway_memory_evictions_total', { map: 'http_connections_per_address' })).toBe(0);
    open('192.0.2.1');
    open('192.0.2.2');
    expect(await count(metrics, 'gateway_memory_evictions_total', { map: 'http_connections_per_address' })).toBe(2);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND')).toEqual([expect.objectContaining({ level: 40, map: 'http_connections_per_address', capacity: 100_000 })]);
    // The first address's count went: a second connection from it is let in (the cost of the bound).
    open('10.0.0.0');
    expect(await count(metrics, 'gateway_http_refusals_total', { reason: 'connections_per_address' })).toBe(0);
  });
});
