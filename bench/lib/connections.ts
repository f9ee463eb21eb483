/**
 * Connections: as many devices as asked connected at once (bare MQTT CONNECT on a socket, no
 * client library, so the load generator stays light), and the broker's resident memory per
 * connection.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { generate, parser as mqttParser } from 'mqtt-packet';
import { resident, startBareAedes, startGatewayProcess, type Server } from './processes.js';

export interface ConnectionsResult {
  readonly server: string;
  readonly asked: number;
  readonly connected: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly bytesPerConnection: number;
  readonly note?: string;
}

function connectOne(port: number, clientId: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parser = mqttParser();
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('no CONNACK in 20 s'))), 20_000);
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') {
        clearTimeout(timer);
        if ((p as { returnCode?: number }).returnCode) reject(new Error(`refused: ${(p as { returnCode?: number }).returnCode}`));
        else resolve(socket);
      }
    });
    socket.on('data', (d) => parser.parse(d));
    socket.once('error', (e) => (clearTimeout(timer), reject(e)));
    socket.once('connect', () => socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 })));
  });
}

async function hold(server: Server, name: string, count: number): Promise<ConnectionsResult> {
  const sockets: Socket[] = [];
  const rssBefore = await resident(server.child.pid!);
  let note: string | undefined;
  try {
    const prefix = randomBytes(2).toString('hex');
    for (let i = 0; i < count; i += 250) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(250, count - i) }, (_, j) => connectOne(server.mqttPort, `c${prefix}-${i + j}`)));
      for (const r of batch) {
        if (r.status === 'fulfilled') sockets.push(r.value);
        else note ??= `stopped at ${sockets.length}: ${(r.reason as Error).message}`;
      }
      if (note) break;
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rssAfter = await resident(server.child.pid!);
    return { server: name, asked: count, connected: sockets.length, rssBefore, rssAfter, bytesPerConnection: sockets.length ? (rssAfter - rssBefore) / sockets.length : Number.NaN, note };
  } finally {
    for (const s of sockets) s.destroy();
  }
}

export async function measureConnections(influxUrl: string, count: number): Promise<ConnectionsResult[]> {
  const results: ConnectionsResult[] = [];
  const gateway = await startGatewayProcess({ influxUrl, db: `bench_conn_${randomBytes(3).toString('hex')}` });
  try {
    results.push(await hold(gateway, 'gateway', count));
  } finally {
    await gateway.stop();
  }
  const aedes = await startBareAedes();
  try {
    results.push(await hold(aedes, 'bare Aedes', count));
  } finally {
    await aedes.stop();
  }
  return results;
}
