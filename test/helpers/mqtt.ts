/** Real MQTT clients for tests. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export async function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
}

export interface Received {
  readonly topic: string;
  readonly payload: string;
  json<T = Record<string, unknown>>(): T;
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * Subscribes and collects the messages matching `topic` (several collectors can share a
 * client); `next()` waits for the next one matching a predicate.
 */
export async function collect(client: MqttClient, topic: string | string[]) {
  const filters = Array.isArray(topic) ? topic : [topic];
  const messages: Received[] = [];
  const waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  client.on('message', (t, payload) => {
    if (!filters.some((f) => topicMatches(f, t))) return;
    const m: Received = { topic: t, payload: payload.toString(), json: <T>() => JSON.parse(payload.toString()) as T };
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return {
    messages,
    next(match: (m: Received) => boolean = () => true, timeoutMs = 5000): Promise<Received> {
      const seen = messages.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message on ${String(topic)} within ${timeoutMs} ms (got ${messages.length}: ${messages.map((x) => x.topic).join(', ')})`)), timeoutMs);
        waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
  };
}
