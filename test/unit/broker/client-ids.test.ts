/**
 * Client ids held by credentials (gateway/broker/client-ids.ts): a persistent session's id stays
 * its credential's while its client is away, but not once that credential is removed. A review
 * found a plug moved to a new credential (plug-1 → plug-1b, a rotation) refused its own id,
 * `client_id_taken`, until the old session expired (24 h).
 */
import type { Aedes } from 'aedes';
import { EventEmitter, once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../gateway/broker/acl.js';
import { ClientIds } from '../../../gateway/broker/client-ids.js';

const native = (name: string): Principal => ({ name, role: 'native', anonymous: false, native: 'tasmota:tasmota_A1B2C3' });

describe('client ids held by credentials', () => {
  it('frees an away session\'s id once its credential is removed, and not before', async () => {
    const names = new Set(['plug-1', 'plug-1b']);
    const ids = new ClientIds({ maxConnections: 0, maxPerCredential: 0, credentialExists: (n) => names.has(n) });
    const aedes = new EventEmitter();
    ids.observe(aedes as unknown as Aedes);
    const conn = new PassThrough();
    ids.claim(native('plug-1'), 'DVES_A1B2C3', conn, true);
    aedes.emit('client', { id: 'DVES_A1B2C3', conn });
    const closed = once(conn, 'close');
    conn.destroy();
    await closed;
    // Away, its session kept: another credential may not take it.
    expect(ids.refusal(native('plug-1b'), 'DVES_A1B2C3', 0)?.reason).toBe('client_id_taken');
    names.delete('plug-1');
    expect(ids.refusal(native('plug-1b'), 'DVES_A1B2C3', 0)).toBeUndefined();
  });
});
