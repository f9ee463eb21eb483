/**
 * Secrets as the gateway stores them: salted scrypt hashes, self-describing so the cost can be
 * raised later, checked in constant time. Shared by MQTT credentials and HTTP logins.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// scrypt N=2^15, r=8: ~32 MiB and tens of ms per check; slow on purpose, and only paid on CONNECT.
const SCRYPT = { N: 32768, r: 8, p: 1, keylen: 32, saltlen: 16 } as const;
const MAXMEM = 64 * 1024 * 1024;

function scrypt(secret: string | Buffer, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCallback(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A salted slow hash of a secret, self-describing so the cost can be raised later. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltlen);
  const key = await scrypt(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: MAXMEM });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time check of a secret against a stored hash; false for any malformed hash. */
export async function verifySecret(secret: string | Buffer, encoded: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = encoded.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  try {
    const actual = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: MAXMEM });
    return timingSafeEqual(actual, expected);
  } catch {
    return false;
  }
}

/** A hash nobody's secret matches: checked for unknown usernames so they cost as much as known ones. */
export const DECOY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

/** 192 random bits, URL-safe: what `credentials add` prints once. */
export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}
