/**
 * MQTT 3.1.1 packets built by hand and written straight to a TCP socket: for tests that need
 * to send what no well-behaved client library would (oversized headers, garbage, half packets).
 */
import { connect as netConnect, type Socket } from 'node:net';

export function varint(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};

export function connectPacket(clientId: string, auth?: { username: string; password: string }): Buffer {
  const flags = 0x02 | (auth ? 0xc0 : 0); // clean session (+ username and password)
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 60]), str(clientId), ...(auth ? [str(auth.username), str(auth.password)] : [])]);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

export function publishPacket(topic: string, payload: Buffer | string, qos: 0 | 1 = 0, messageId = 1): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  const body = Buffer.concat([str(topic), ...(qos > 0 ? [id] : []), typeof payload === 'string' ? Buffer.from(payload) : payload]);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), varint(body.length), body]);
}

export const DISCONNECT = Buffer.from([0xe0, 0x00]);

export interface RawConnection {
  readonly socket: Socket;
  /** Everything the broker sent so far. */
  readonly received: () => Buffer;
  /** Resolves when the broker closes the connection (or it fails). */
  readonly closed: Promise<void>;
  write(data: Buffer): Promise<void>;
  /** Waits until the broker has sent at least `bytes` bytes in all. */
  waitFor(bytes: number, timeoutMs?: number): Promise<Buffer>;
}

export async function rawConnect(port: number, host = '127.0.0.1'): Promise<RawConnection> {
  const socket = netConnect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let data = Buffer.alloc(0);
  const listeners: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    for (const l of [...listeners]) l();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    received: () => data,
    closed,
    write: (chunk) =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve();
        socket.write(chunk, () => resolve());
      }),
    waitFor: (bytes, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (data.length >= bytes) {
            clearTimeout(timer);
            listeners.splice(listeners.indexOf(check), 1);
            resolve(data);
          }
        };
        const timer = setTimeout(() => reject(new Error(`broker sent ${data.length} bytes, expected ${bytes}`)), timeoutMs);
        listeners.push(check);
        check();
      }),
  };
}
