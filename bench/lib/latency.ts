/**
 * Latency: a reading published → the command it causes received by an actuator client, at a
 * fixed rate. Readings alternate 31 °C / 22 °C per zone, so every reading changes the HVAC's
 * state and yields a command (the gateway does not resend a command for the current state).
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { startGatewayProcess } from './processes.js';

export interface LatencyResult {
  readonly rate: number;
  readonly seconds: number;
  readonly sent: number;
  readonly received: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function measureLatency(influxUrl: string, rate: number, seconds: number, zones = 50): Promise<LatencyResult> {
  const gateway = await startGatewayProcess({ influxUrl, db: `bench_lat_${randomBytes(3).toString('hex')}` });
  const url = `mqtt://127.0.0.1:${gateway.mqttPort}`;
  const actuator = await mqtt.connectAsync(url, { clientId: 'bench-actuator', reconnectPeriod: 0 });
  const devices = await Promise.all(Array.from({ length: zones }, (_, z) => mqtt.connectAsync(url, { clientId: `lat-t${z}`, reconnectPeriod: 0 })));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  actuator.on('message', (_topic, payload) => {
    const at = performance.now();
    const id = (JSON.parse(payload.toString()) as { correlationid: string }).correlationid;
    const t0 = sentAt.get(id);
    if (t0 !== undefined) latencies.push(at - t0);
  });
  await actuator.subscribeAsync('commands/lat/+/hvac', { qos: 1 });
  try {
    let sent = 0;
    const total = Math.round(rate * seconds);
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000)) - sent;
        for (let i = 0; i < due; i++) {
          const n = sent++;
          const zone = n % zones;
          const id = `lat-${n}`;
          const value = Math.floor(n / zones) % 2 === 0 ? 31 : 22;
          sentAt.set(id, performance.now());
          devices[zone]!.publish(`sensors/lat/z${zone}/t${zone}/temperature`, `{"value":${value},"id":"${id}"}`, { qos: 1 });
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    const deadline = performance.now() + 5000;
    while (latencies.length < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const sorted = [...latencies].sort((a, b) => a - b);
    return { rate, seconds, sent, received: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted.at(-1) ?? Number.NaN };
  } finally {
    await Promise.all([actuator, ...devices].map((c) => c.endAsync(true)));
    await gateway.stop();
  }
}
