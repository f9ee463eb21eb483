/**
 * The readings a stage is fed, built before any clock starts: the end-to-end load's mix (the
 * same simulated fleet as bench/lib/load.ts), a stream of temperature readings over the same
 * site and zones, and the latency bench's probe readings (every one commanding).
 */
import type { IncomingPublish } from '../../gateway/broker/publish-pipeline.js';
import { Reading } from '../../gateway/ingest/envelope.js';
import { makeFleet, nextReading, seededRandom } from '../../simulators/devices.js';

/** As the load: 100 devices (20 zones of one site), each stepping 1 ms per reading from now. */
export function mixPackets(count: number, qos: 0 | 1 = 0, devices = 100): IncomingPublish[] {
  const random = seededRandom(1);
  const fleet = makeFleet({ devices, prefix: 'st', random });
  const start = Date.now();
  const out: IncomingPublish[] = [];
  for (let i = 0; i < count; i++) {
    const r = nextReading(fleet[i % fleet.length]!, start + Math.floor(i / fleet.length), 'normal', random, false);
    // A topic as Aedes hands it over: a flat string read from the packet's bytes (a template
    // literal is a rope V8 must flatten at the first lookup, which cost the ingest stage ~1 µs).
    out.push({ topic: Buffer.from(r.topic).toString('utf8'), payload: Buffer.from(r.payload), qos, dup: false, messageId: qos > 0 ? (i % 65535) + 1 : undefined });
  }
  return out;
}

/** Temperature readings of 100 devices in 20 zones of site1, 19–25 °C, 1 ms apart per device. */
export function temperatureReadings(count: number, devices = 100, zones = 20): Reading[] {
  const random = seededRandom(2);
  const start = Date.now();
  const out: Reading[] = [];
  for (let i = 0; i < count; i++) {
    const d = i % devices;
    const zone = `z${(d % zones) + 1}`;
    const device = `t${d}`;
    const value = Math.round((22 + 2.5 * Math.sin(i / 5000) + (random() - 0.5) * 2) * 10) / 10;
    const t = start + Math.floor(i / devices);
    out.push(new Reading(`st-t-${i}`, 'sensor.temperature', `site1/${zone}/${device}`, 'site1', zone, device, 'temperature', value, value, i, t, t, device));
  }
  return out;
}

/** The latency bench's probes: 50 zones of site `lat`, each alternating 31 °C / 22 °C, so every reading commands. */
export function probeReadings(count: number, zones = 50): Reading[] {
  const start = Date.now();
  const out: Reading[] = [];
  for (let p = 0; p < count; p++) {
    const z = p % zones;
    const value = Math.floor(p / zones) % 2 === 0 ? 31 : 22;
    const t = start + Math.floor(p / zones);
    out.push(new Reading(`lat-${p}`, 'sensor.temperature', `lat/z${z}/t${z}`, 'lat', `z${z}`, `t${z}`, 'temperature', value, value, p, t, t, `lat-t${z}`));
  }
  return out;
}
