import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { renameDurably } from '../core/durable-file.js';
import { dirname } from 'node:path';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import { GatewayError, logError } from '../core/errors.js';
import { SEGMENT_SOURCE } from '../core/segments.js';
import { NATIVE_FAMILIES, RESERVED_BASES } from './native-acl.js';
import { DECOY_HASH, hashSecret, newSecret, verifySecret } from './secrets.js';

/**
 * Device and service credentials, kept in one JSON file (DATA_DIR/credentials.json by default).
 * Secrets are stored only as salted scrypt hashes; the plain secret is shown once, when made.
 * The gateway re-reads the file when it changes, so `npm run credentials` takes effect
 * without a restart.
 */

export const ROLES = ['device', 'actuator', 'observer', 'admin', 'bridge', 'native'] as const;
/** Families a `bridge` credential can speak for. */
export const BRIDGE_FAMILIES = ['zigbee2mqtt', 'homeassistant', 'generic', ...NATIVE_FAMILIES] as const;
export type Role = (typeof ROLES)[number];

export interface Credential {
  /** The MQTT username. */
  readonly name: string;
  readonly role: Role;
  /** The device (and MQTT client id) this credential is for; required for role device. */
  readonly device?: string;
  /** Where a device sits (required for role device); scopes an actuator when given. */
  readonly site?: string;
  readonly zone?: string;
  /** Role bridge: the family it speaks for (default zigbee2mqtt) and its base topic (default the family's). */
  readonly family?: string;
  readonly base?: string;
  /** Role native: the one native device it is, `<family>:<native id>` (tasmota, shelly, esphome). */
  readonly native?: string;
  /** `scrypt$N$r$p$salt$key`, salt and key base64. */
  readonly hash: string;
  readonly createdAt: string;
}

interface CredentialsFile {
  readonly version: 1;
  readonly credentials: Credential[];
}

const fileSchema = {
  type: 'object',
  required: ['version', 'credentials'],
  additionalProperties: false,
  properties: {
    version: { const: 1 },
    credentials: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'role', 'hash', 'createdAt'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,128}$' },
          role: { enum: ROLES },
          device: { type: 'string', pattern: SEGMENT_SOURCE },
          site: { type: 'string', pattern: SEGMENT_SOURCE },
          zone: { type: 'string', pattern: SEGMENT_SOURCE },
          family: { enum: BRIDGE_FAMILIES },
          // A base is a topic root of one or more levels, never the contract's own or the broker's.
          base: { type: 'string', pattern: `^(?!(${[...RESERVED_BASES].join('|')})(/|$))[^/#+$\\u0000][^#+\\u0000]{0,127}(?<!/)$` },
          native: { type: 'string', pattern: `^(${NATIVE_FAMILIES.join('|')}):[^#+/\\u0000][^#+\\u0000]{0,255}$` },
          hash: { type: 'string', pattern: '^scrypt\\$\\d+\\$\\d+\\$\\d+\\$[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+$' },
          createdAt: { type: 'string' },
        },
        allOf: [
          { if: { properties: { role: { const: 'device' } } }, then: { required: ['device', 'site', 'zone'] } },
          { if: { properties: { role: { const: 'native' } } }, then: { required: ['native'] } },
          { if: { properties: { role: { const: 'bridge' }, family: { not: { const: 'zigbee2mqtt' } } }, required: ['family'] }, then: { required: ['base'] } },
        ],
      },
    },
  },
};
const validateFile = new Ajv({ allErrors: true }).compile<CredentialsFile>(fileSchema);

function describeErrors(): string {
  // The if/then wrapper adds "must match then schema" to the real problem: leave it out.
  return (validateFile.errors ?? [])
    .filter((e) => e.keyword !== 'if')
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}

/**
 * At most this many scrypt checks at once: they run on libuv's thread pool, which the spool's
 * file writes share, so a storm of CONNECTs must queue here rather than stall durability.
 */
const MAX_CONCURRENT_CHECKS = 2;

export class CredentialStore {
  private byName = new Map<string, Credential>();
  /** Client id → the credential that reserves it: every credential's name and device. */
  private reserved = new Map<string, string>();
  /** What the loaded file looked like (mtime, size, inode), to notice changes cheaply. */
  private signature = 'missing';
  /**
   * Secrets already checked, as an HMAC under a key that lives only in this process, so a
   * device reconnecting does not pay scrypt again. Keyed by name; void once the hash changes.
   */
  private readonly verified = new Map<string, { hash: string; mac: Buffer }>();
  private readonly macKey = randomBytes(32);
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly path: string,
    private readonly log?: Logger,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  /** Changes each time the credentials in force change: what is derived from them can be cached on it. */
  get generation(): number {
    return this.loads;
  }
  private loads = 0;

  list(): Credential[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): Credential | undefined {
    return this.byName.get(name);
  }

  /** The credential that reserves this client id (its name or its device), if any. */
  reservedBy(clientId: string): string | undefined {
    return this.reserved.get(clientId);
  }

  /** Loads the file (a missing file is an empty store). Throws GW_ERR_CREDENTIALS when it is invalid. */
  async load(): Promise<void> {
    const signature = await this.currentSignature();
    if (signature === 'missing') {
      this.replace([], signature);
      return;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (err) {
      throw new GatewayError('GW_ERR_CREDENTIALS', `${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (!validateFile(doc)) {
      throw new GatewayError('GW_ERR_CREDENTIALS', `${this.path}: ${describeErrors()}`);
    }
    const names = new Set<string>();
    for (const c of doc.credentials) {
      if (names.has(c.name)) throw new GatewayError('GW_ERR_CREDENTIALS', `${this.path}: the name ${JSON.stringify(c.name)} appears twice`);
      names.add(c.name);
    }
    this.replace(doc.credentials, signature);
  }

  /**
   * Re-reads the file if it changed since the last load. A file that became invalid is
   * reported and ignored: the credentials in force stay (failing closed would lock every
   * device out over one bad edit; failing open is never an option).
   */
  refresh(): Promise<void> {
    // A burst of CONNECTs after an edit shares one reload, not one each.
    this.refreshing ??= this.refreshOnce().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }
  private refreshing: Promise<void> | undefined;

  private async refreshOnce(): Promise<void> {
    let signature: string;
    try {
      signature = await this.currentSignature();
    } catch (err) {
      logError(this.log, 'GW_ERR_CREDENTIALS', { err: (err as Error).message }, 'credentials file cannot be read; the credentials in force stay');
      return;
    }
    if (signature === this.signature) return;
    const before = this.size;
    try {
      await this.load();
      this.log?.info({ path: this.path, credentials: this.size, before }, 'credentials reloaded');
    } catch (err) {
      this.signature = signature;
      logError(this.log, 'GW_ERR_CREDENTIALS', { err: (err as Error).message }, 'credentials file changed but is invalid; the credentials in force stay');
    }
  }

  /**
   * The credential, when this secret was already checked right since the start (an HMAC, ~3 µs,
   * no scrypt); undefined otherwise, which says nothing about the secret.
   */
  cached(name: string, secret: Buffer): Credential | undefined {
    const credential = this.byName.get(name);
    const known = credential ? this.verified.get(name) : undefined;
    if (!credential || known?.hash !== credential.hash) return undefined;
    return timingSafeEqual(known.mac, this.mac(name, secret)) ? credential : undefined;
  }

  private mac(name: string, secret: Buffer): Buffer {
    return createHmac('sha256', this.macKey).update(name).update('\0').update(secret).digest();
  }

  /**
   * Checks a username and secret with scrypt; costs the same whether or not the name exists. A
   * right secret is remembered for `cached()`, which callers ask first (LoginGuard, before its
   * back-off): not asked again here, where it could only miss.
   */
  async verify(name: string, secret: Buffer): Promise<Credential | undefined> {
    const credential = this.byName.get(name);
    const ok = await this.limited(() => verifySecret(secret, credential?.hash ?? DECOY_HASH));
    if (!ok || !credential) return undefined;
    this.verified.set(name, { hash: credential.hash, mac: this.mac(name, secret) });
    return credential;
  }

  private async limited<T>(task: () => Promise<T>): Promise<T> {
    // A finishing check hands its slot straight to the next one waiting.
    if (this.running >= MAX_CONCURRENT_CHECKS) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Adds a credential with a new random secret (or the one given), saves, and returns the secret. */
  async add(entry: Omit<Credential, 'hash' | 'createdAt'>, secret = newSecret()): Promise<{ credential: Credential; secret: string }> {
    await this.load();
    if (this.byName.has(entry.name)) throw new GatewayError('GW_ERR_CREDENTIALS', `a credential named ${JSON.stringify(entry.name)} exists already; remove it first to replace it`);
    const credential: Credential = { ...entry, hash: await hashSecret(secret), createdAt: new Date().toISOString() };
    const next = [...this.byName.values(), credential];
    if (!validateFile({ version: 1, credentials: next })) {
      throw new GatewayError('GW_ERR_CREDENTIALS', `invalid credential: ${describeErrors()}`);
    }
    await this.save(next);
    return { credential, secret };
  }

  /** Removes a credential by name; false when there was none. */
  async remove(name: string): Promise<boolean> {
    await this.load();
    if (!this.byName.has(name)) return false;
    await this.save([...this.byName.values()].filter((c) => c.name !== name));
    return true;
  }

  /** Atomic replace (temp file, fsync, rename, the folder's fsync), readable by the owner only. */
  private async save(credentials: Credential[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(`${JSON.stringify({ version: 1, credentials } satisfies CredentialsFile, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(temp, 0o600);
    await renameDurably(temp, this.path);
    await this.load();
  }

  private replace(credentials: readonly Credential[], signature: string): void {
    this.byName = new Map(credentials.map((c) => [c.name, c]));
    this.reserved = new Map(credentials.flatMap((c) => [[c.name, c.name] as const, ...(c.device ? [[c.device, c.name] as const] : [])]));
    this.signature = signature;
    this.loads++;
  }

  private async currentSignature(): Promise<string> {
    try {
      const s = await stat(this.path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw new GatewayError('GW_ERR_CREDENTIALS', `${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}
