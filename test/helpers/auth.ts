/** Credentials, outside clients (Debian's mosquitto_pub/_sub) and metrics for the access-control tests. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { CredentialStore, type Credential } from '../../gateway/broker/credentials.js';

export type NewCredential = Omit<Credential, 'hash' | 'createdAt'>;

/** Writes credentials into DATA_DIR/credentials.json (as the CLI does) and returns each one's secret. */
export async function addCredentials(dataDir: string, entries: readonly NewCredential[]): Promise<Record<string, string>> {
  const store = new CredentialStore(join(dataDir, 'credentials.json'));
  const secrets: Record<string, string> = {};
  for (const e of entries) secrets[e.name] = (await store.add(e)).secret;
  return secrets;
}

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end and gives back its exit code and output (never throws on a non-zero exit). */
export function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** The CONNACK return code a connection attempt is refused with (0 when it is accepted). */
export async function connackCode(url: string, options: IClientOptions): Promise<number> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    await client.endAsync();
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

/** Publishes at QoS 1 and resolves when the broker drops the connection (how Aedes refuses a publish). */
export async function publishExpectingDisconnect(client: MqttClient, topic: string, payload: string): Promise<void> {
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(topic, payload, { qos: 1 }, () => undefined);
  await closed;
  client.end(true);
}

/**
 * One sample of a Prometheus metric (0 when the series does not exist yet), read with a
 * credential's name and secret when given (/metrics asks for one once credentials exist).
 */
export async function metric(httpUrl: string, name: string, labels: Record<string, string> = {}, who?: { name: string; secret: string }): Promise<number> {
  const res = await fetch(`${httpUrl}/metrics`, { headers: who ? { authorization: `Basic ${Buffer.from(`${who.name}:${who.secret}`).toString('base64')}` } : {} });
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  const text = await res.text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const labelText = rest.startsWith('{') ? rest.slice(1, rest.indexOf('}')) : '';
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (want.every((w) => labelText.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** The return code the broker granted for each filter (128 = refused), whether or not any was refused. */
export async function subscribeCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted) return granted;
    throw err;
  }
}

/** How a connection attempt ends: connected, refused with a CONNACK code, or closed (or failed) before any CONNACK. */
export function connectOutcome(url: string, options: IClientOptions): Promise<{ connected: boolean; code?: number; error?: string }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    const finish = (outcome: { connected: boolean; code?: number; error?: string }): void => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      resolve(outcome);
    };
    client.once('connect', () => finish({ connected: true }));
    client.once('error', (err: Error & { code?: unknown }) => finish({ connected: false, ...(typeof err.code === 'number' ? { code: err.code } : {}), error: err.message }));
    client.once('close', () => finish({ connected: false, error: 'closed before CONNACK' }));
  });
}
