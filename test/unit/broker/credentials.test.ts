import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CredentialStore } from '../../../gateway/broker/credentials.js';
import { hashSecret, verifySecret } from '../../../gateway/broker/secrets.js';
import { captureLogs } from '../../helpers/gateway.js';
import { createLogger } from '../../../gateway/observability/log.js';

const tempFile = async () => join(await mkdtemp(join(tmpdir(), 'gw-cred-')), 'credentials.json');

describe('secrets', () => {
  it('are stored as salted scrypt hashes: two hashes of one secret differ, and both verify', async () => {
    const [a, b] = await Promise.all([hashSecret('s3cret-value'), hashSecret('s3cret-value')]);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(await verifySecret('s3cret-value', a)).toBe(true);
    expect(await verifySecret('s3cret-valuf', a)).toBe(false);
    expect(await verifySecret('s3cret-value', 'scrypt$1$1$1$AA==$AA==')).toBe(false);
    expect(await verifySecret('s3cret-value', 'md5$whatever')).toBe(false);
  });
});

describe('CredentialStore', () => {
  it('writes the file readable by its owner only, without the secret in it', async () => {
    const path = await tempFile();
    const store = new CredentialStore(path);
    const { secret } = await store.add({ name: 't-1', role: 'device', device: 't-1', site: 'hq', zone: 'f1' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(secret);
    expect(JSON.parse(text)).toMatchObject({ version: 1, credentials: [{ name: 't-1', role: 'device', device: 't-1', site: 'hq', zone: 'f1' }] });
    expect(await store.verify('t-1', Buffer.from(secret))).toMatchObject({ name: 't-1' });
    expect(await store.verify('t-1', Buffer.from(`${secret}x`))).toBeUndefined();
    expect(await store.verify('nobody', Buffer.from(secret))).toBeUndefined();
  });

  it('stops at load with GW_ERR_CREDENTIALS naming the file and the problem', async () => {
    const path = await tempFile();
    await writeFile(path, '{"version":1,"credentials":[{"name":"t-1","role":"device","hash":"plain","createdAt":"x"}]}');
    const err = await new CredentialStore(path).load().then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^GW_ERR_CREDENTIALS: .*credentials\.json: /);
    expect(err?.message).toContain("/credentials/0 must have required property 'device'");
    expect(err?.message).toContain('/credentials/0/hash must match pattern');
    expect(err?.message).not.toContain('must match "then" schema');
    await writeFile(path, '{not json');
    await expect(new CredentialStore(path).load()).rejects.toThrow(/GW_ERR_CREDENTIALS: .*credentials\.json: .*JSON/);
  });

  it('takes a changed file at refresh, and keeps the credentials in force when the new file is invalid', async () => {
    const path = await tempFile();
    const { lines, stream } = captureLogs();
    const live = new CredentialStore(path, createLogger('info', stream));
    await live.load();
    expect(live.size).toBe(0);
    const { secret } = await new CredentialStore(path).add({ name: 'ops', role: 'admin' });
    await live.refresh();
    expect(live.get('ops')?.role).toBe('admin');
    await writeFile(path, '{"version":2}');
    await live.refresh();
    expect(live.get('ops')?.role).toBe('admin');
    expect(await live.verify('ops', Buffer.from(secret))).toBeDefined();
    expect(lines.find((l) => l['code'] === 'GW_ERR_CREDENTIALS')?.msg).toMatch(/invalid; the credentials in force stay/);
  });

  it('reloads a changed file once for a burst of refreshes (a reconnect storm after an edit)', async () => {
    const path = await tempFile();
    const { lines, stream } = captureLogs();
    const live = new CredentialStore(path, createLogger('info', stream));
    await live.load();
    await new CredentialStore(path).add({ name: 'ops', role: 'admin' });
    await Promise.all(Array.from({ length: 100 }, () => live.refresh()));
    expect(live.get('ops')?.role).toBe('admin');
    expect(lines.filter((l) => l.msg === 'credentials reloaded')).toHaveLength(1);
  });

  it('stops accepting an old secret once the credential is replaced (no stale cache)', async () => {
    const path = await tempFile();
    const store = new CredentialStore(path);
    const first = await store.add({ name: 'svc', role: 'observer' });
    expect(store.cached('svc', Buffer.from(first.secret))).toBeUndefined();
    expect(await store.verify('svc', Buffer.from(first.secret))).toBeDefined();
    expect(store.cached('svc', Buffer.from(first.secret))).toBeDefined();
    await store.remove('svc');
    const second = await store.add({ name: 'svc', role: 'observer' });
    expect(store.cached('svc', Buffer.from(first.secret))).toBeUndefined();
    expect(await store.verify('svc', Buffer.from(first.secret))).toBeUndefined();
    expect(await store.verify('svc', Buffer.from(second.secret))).toBeDefined();
  });
});
