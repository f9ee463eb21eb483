/**
 * The codes a Zigbee2MQTT keypad's arm/disarm is checked against (keypad.ts), kept in one JSON file
 * (DATA_DIR/keypad-codes.json, or KEYPAD_CODES_FILE) as salted scrypt hashes, as credentials are
 * (broker/secrets.ts): the code itself is never written. `npm run keypad-codes` manages the file;
 * the gateway reads it again when it changes, at the next keypad press.
 */
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Ajv } from 'ajv';
import type { Logger } from 'pino';
import { writeFileDurably } from '../core/durable-file.js';
import { GatewayError, logError } from '../core/errors.js';
import { SEGMENT_HINT as SEGMENT } from '../core/segments.js';
import { DECOY_HASH, hashSecret, verifySecret } from '../broker/secrets.js';

export interface KeypadCode {
  /** Whose code it is (a person, a role): said in the log when it arms or disarms, never the code. */
  readonly name: string;
  /** `site/zone` or `site/*` it may arm and disarm; absent: every zone. */
  readonly zones?: readonly string[];
  /** `scrypt$N$r$p$salt$key`, salt and key base64. */
  readonly hash: string;
  readonly createdAt: string;
}

interface CodesFile {
  readonly version: 1;
  readonly codes: KeypadCode[];
}

const fileSchema = {
  type: 'object',
  required: ['version', 'codes'],
  additionalProperties: false,
  properties: {
    version: { const: 1 },
    codes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'hash', 'createdAt'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,128}$' },
          zones: { type: 'array', minItems: 1, items: { type: 'string', pattern: `^${SEGMENT}/(${SEGMENT}|\\*)$` } },
          hash: { type: 'string', pattern: '^scrypt\\$\\d+\\$\\d+\\$\\d+\\$[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+$' },
          createdAt: { type: 'string' },
        },
      },
    },
  },
};
const validateFile = new Ajv({ allErrors: true }).compile<CodesFile>(fileSchema);
const problems = (): string => (validateFile.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');

/** What a code must look like: what a keypad can type, 4 to 32 characters (a PIN of 4–8 digits on most). */
export const CODE_PATTERN = /^[0-9A-Za-z*#]{4,32}$/;

/** Whether a code of these zones may arm or disarm site/zone. */
export function covers(zones: readonly string[] | undefined, site: string, zone: string): boolean {
  return zones === undefined || zones.includes(`${site}/${zone}`) || zones.includes(`${site}/*`);
}

export class KeypadCodes {
  private codes: readonly KeypadCode[] = [];
  private signature: string | undefined;
  /** One scrypt check at a time: they share libuv's pool with the spool's writes (a burst of presses queues here). */
  private checking: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly log?: Logger,
  ) {}

  get size(): number {
    return this.codes.length;
  }

  list(): readonly KeypadCode[] {
    return [...this.codes].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Reads the file (a missing one holds no code); GW_ERR_KEYPAD_CODES when it is invalid. */
  async load(): Promise<void> {
    const signature = await this.currentSignature();
    if (signature === 'missing') return void ((this.codes = []), (this.signature = signature));
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (err) {
      throw new GatewayError('GW_ERR_KEYPAD_CODES', `${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (!validateFile(doc)) throw new GatewayError('GW_ERR_KEYPAD_CODES', `${this.path}: ${problems()}`);
    const names = new Set(doc.codes.map((c) => c.name));
    if (names.size !== doc.codes.length) throw new GatewayError('GW_ERR_KEYPAD_CODES', `${this.path}: a name appears twice`);
    [this.codes, this.signature] = [doc.codes, signature];
  }

  /** Reads the file again if it changed; an invalid one is logged and the codes in force stay. */
  async refresh(): Promise<void> {
    try {
      if ((await this.currentSignature()) === this.signature) return;
      await this.load();
      this.log?.info({ path: this.path, codes: this.size }, 'keypad codes read');
    } catch (err) {
      logError(this.log, 'GW_ERR_KEYPAD_CODES', { err: (err as Error).message, path: this.path }, 'the keypad codes file cannot be read or is invalid; the codes in force stay');
    }
  }

  /**
   * The name of the code typed, when it is one of the codes and may act on site/zone; undefined
   * otherwise. Every code is checked (scrypt, compared in constant time) whichever matches, and a
   * decoy when there is none, so how long it takes says nothing about which code is near.
   */
  check(code: string | undefined, site: string, zone: string): Promise<string | undefined> {
    const codes = this.codes;
    const run = async (): Promise<string | undefined> => {
      let found: string | undefined;
      for (const c of codes.length > 0 ? codes : [undefined]) {
        const ok = await verifySecret(code ?? '', c?.hash ?? DECOY_HASH);
        if (ok && c && code !== undefined && found === undefined && covers(c.zones, site, zone)) found = c.name;
      }
      return found;
    };
    const result = this.checking.then(run, run);
    this.checking = result.catch(() => undefined);
    return result;
  }

  /** Adds a code under a name; refused when the name is taken. */
  async add(name: string, code: string, zones?: readonly string[]): Promise<KeypadCode> {
    if (!CODE_PATTERN.test(code)) throw new GatewayError('GW_ERR_KEYPAD_CODES', 'a keypad code is 4 to 32 characters a keypad can type: digits, letters, * and #');
    await this.load();
    if (this.codes.some((c) => c.name === name)) throw new GatewayError('GW_ERR_KEYPAD_CODES', `a keypad code named ${JSON.stringify(name)} exists already; remove it first to replace it`);
    const entry: KeypadCode = { name, ...(zones ? { zones } : {}), hash: await hashSecret(code), createdAt: new Date().toISOString() };
    const next = [...this.codes, entry];
    if (!validateFile({ version: 1, codes: next })) throw new GatewayError('GW_ERR_KEYPAD_CODES', `invalid keypad code: ${problems()}`);
    await this.save(next);
    return entry;
  }

  /** Removes a code by name; false when there was none. */
  async remove(name: string): Promise<boolean> {
    await this.load();
    if (!this.codes.some((c) => c.name === name)) return false;
    await this.save(this.codes.filter((c) => c.name !== name));
    return true;
  }

  /** Atomic and durable, readable by the owner only (a short PIN's hash can be tried offline: keep it private). */
  private async save(codes: KeypadCode[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileDurably(this.path, `${JSON.stringify({ version: 1, codes } satisfies CodesFile, null, 2)}\n`, 0o600);
    await chmod(this.path, 0o600);
    await this.load();
  }

  private async currentSignature(): Promise<string> {
    try {
      const s = await stat(this.path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw new GatewayError('GW_ERR_KEYPAD_CODES', `${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}
