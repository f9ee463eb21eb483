/**
 * `GET /api/devices` on a cluster node lists every node's native devices: a device is heard by the
 * node it is connected to, and behind a load balancer an operator cannot choose which node answers.
 * The asked node asks the others on the brokers' bus (an internal `$` topic no client may publish
 * to); each answers with its registry's view, gzipped (a large fleet's view is megabytes, and Redis
 * cuts a pub/sub reader whose buffer grows past its limit). Nothing is sent until someone asks.
 */
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Aedes, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { DeviceView } from './registry.js';

export const ASK_TOPIC = '$gateway/devices/ask';
const answerTopic = (brokerId: string): string => `$gateway/devices/answer/${brokerId}`;
const zip = promisify(gzip);
const unzip = promisify(gunzip);

export interface ClusterViewOptions {
  readonly aedes: Aedes;
  /** This node's id (as /api/cluster names it). */
  readonly node: string;
  /** The cluster's live nodes now: who is waited for. */
  readonly liveNodes: () => readonly string[];
  readonly view: () => DeviceView[];
  readonly log: Logger;
  /** How long an ask waits for a node that does not answer (a node just gone), ms. */
  readonly timeoutMs?: number;
}

/** A device as the cluster knows it: the view of the node that heard it last, and the nodes that have heard it (not only learnt of it). */
export type ClusterDeviceView = DeviceView & { readonly heardBy: readonly string[] };

interface Asking {
  readonly answers: Map<string, DeviceView[]>;
  readonly expected: ReadonlySet<string>;
  readonly done: () => void;
}

export class ClusterDeviceViews {
  private readonly asking = new Map<string, Asking>();
  private readonly subscriptions: [string, (packet: PublishPacket & { brokerId?: string }, done: () => void) => void][] = [];

  constructor(private readonly o: ClusterViewOptions) {}

  start(): void {
    const { aedes } = this.o;
    this.listen(ASK_TOPIC, (packet) => this.answer(packet));
    this.listen(answerTopic(aedes.id), (packet) => this.heard(packet));
  }

  stop(): void {
    for (const [topic, handler] of this.subscriptions.splice(0)) this.o.aedes.unsubscribe(topic, handler, () => undefined);
    for (const a of this.asking.values()) a.done();
  }

  /**
   * Every live node's devices (this node's among them), merged; the nodes that did not answer in
   * time. Requests while an ask is out share it: each ask has every node gzip its whole view.
   */
  gather(): Promise<{ devices: ClusterDeviceView[]; unanswered: string[] }> {
    this.gathering ??= this.ask().finally(() => (this.gathering = undefined));
    return this.gathering;
  }
  private gathering: Promise<{ devices: ClusterDeviceView[]; unanswered: string[] }> | undefined;

  private async ask(): Promise<{ devices: ClusterDeviceView[]; unanswered: string[] }> {
    const id = randomUUID();
    const expected = new Set(this.o.liveNodes().filter((n) => n !== this.o.node));
    const answers = new Map<string, DeviceView[]>([[this.o.node, this.o.view()]]);
    if (expected.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => done(), this.o.timeoutMs ?? 2000);
        const done = () => {
          clearTimeout(timer);
          this.asking.delete(id);
          resolve();
        };
        this.asking.set(id, { answers, expected, done });
        this.publish(ASK_TOPIC, Buffer.from(JSON.stringify({ id, from: this.o.aedes.id })));
      });
    }
    return { devices: merge(answers), unanswered: [...expected].filter((n) => !answers.has(n)).sort() };
  }

  private listen(topic: string, handle: (packet: PublishPacket & { brokerId?: string }) => Promise<void>): void {
    const handler = (packet: PublishPacket & { brokerId?: string }, done: () => void): void => {
      // Never into the bus: a bad message must not stop this node's deliveries.
      handle(packet).catch((err: unknown) => this.o.log.warn({ topic, from: packet.brokerId, err: (err as Error).message }, 'a cluster device view message could not be read: ignored'));
      done();
    };
    this.subscriptions.push([topic, handler]);
    this.o.aedes.subscribe(topic, handler, () => undefined);
  }

  private async answer(packet: PublishPacket & { brokerId?: string }): Promise<void> {
    if (packet.brokerId === this.o.aedes.id) return;
    const ask = JSON.parse(packet.payload.toString()) as { id?: unknown; from?: unknown } | null;
    if (typeof ask?.id !== 'string' || typeof ask.from !== 'string') throw new Error('an ask without its id and asker');
    const body = await zip(JSON.stringify({ id: ask.id, node: this.o.node, devices: this.o.view() }));
    this.publish(answerTopic(ask.from), body);
  }

  private async heard(packet: PublishPacket): Promise<void> {
    const a = JSON.parse((await unzip(packet.payload)).toString()) as { id?: unknown; node?: unknown; devices?: unknown } | null;
    if (typeof a?.id !== 'string' || typeof a.node !== 'string' || !Array.isArray(a.devices)) throw new Error('an answer without its id, node and devices');
    const asking = this.asking.get(a.id);
    if (!asking) return; // Too late: the ask was answered without it.
    // What merge() reads must be there: another version's entries without it are left out, not thrown on in the route.
    asking.answers.set(a.node, (a.devices as unknown[]).filter(isView));
    if ([...asking.expected].every((n) => asking.answers.has(n))) asking.done();
  }

  private publish(topic: string, payload: Buffer): void {
    const packet = { cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false } as PublishPacket;
    this.o.aedes.publish(packet, (err) => err && this.o.log.warn({ topic, err: err.message }, 'could not reach the other nodes for their devices'));
  }
}

function isView(v: unknown): v is DeviceView {
  const d = v as Partial<DeviceView> | null;
  return typeof d === 'object' && d !== null && typeof d.key === 'string' && typeof d.lastSeen === 'string' && typeof d.messages === 'number' && typeof d.waiting === 'boolean';
}

/**
 * One entry a device: the view of the node that heard from it last (a node that only learnt of it
 * from another's discovery config has heard nothing), with every node that heard it. Waiting
 * devices first, then by key.
 */
export function merge(answers: ReadonlyMap<string, readonly DeviceView[]>): ClusterDeviceView[] {
  // Heard: a message with values, or its availability (a relay known only by its LWT); a node's history is not seeded, nor a retained one told at its start (registry.ts).
  const heard = (v: DeviceView): boolean => v.messages > 0 || v.online !== null;
  const fresher = (a: DeviceView, b: DeviceView): boolean => (heard(a) !== heard(b) ? heard(a) : a.lastSeen > b.lastSeen);
  const byKey = new Map<string, { view: DeviceView; heardBy: string[] }>();
  for (const [node, views] of answers) {
    for (const v of views) {
      let seen = byKey.get(v.key);
      if (!seen) byKey.set(v.key, (seen = { view: v, heardBy: [] }));
      else if (fresher(v, seen.view)) seen.view = v;
      if (heard(v)) seen.heardBy.push(node);
    }
  }
  return [...byKey.values()]
    .map(({ view, heardBy }) => ({ ...view, heardBy: heardBy.sort() }))
    .sort((a, b) => Number(b.waiting) - Number(a.waiting) || a.key.localeCompare(b.key));
}
