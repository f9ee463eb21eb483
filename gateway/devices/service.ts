/**
 * The native-devices feature: the device map (loaded, watched), the router ingest hands native
 * topics to, the native commands that follow the rules' commands, and `GET /api/devices`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CommandData, DeviceSilenceEvent, ReadingEvent } from '../core/events.js';
import type { DeviceLiveness } from '../core/liveness.js';
import { expectedReport } from './actuator-form.js';
import { NativeCommander, type NativeCommanderOptions } from './commands.js';
import { DeviceMapLoader } from './map-loader.js';
import { MapTypoCheck } from './map-typos.js';
import { EMPTY_MAP, type NativeDevice } from './map.js';
import type { DeviceView } from './registry.js';
import { keepLearning } from './kept-learning.js';
import { teachRetained, type Relearning, type RelearnSources } from './relearn.js';
import { shareLearning, SharingRouter } from './shared-learning.js';
import { ClusterDeviceViews, type ClusterViewOptions } from './cluster-view.js';
import { replayedReport, seedReports, type ReplayedReport } from './actuator-states.js';
import { cutCounter, evictionCounter, refusalCounter } from '../observability/evictions.js';
import { RenameFollower } from './rename.js';
import { devicesRoute } from './devices-route.js';
import type { PowerCutWatch } from './power-cut.js';

/** The commander's ports and Zigbee2MQTT base topic, with the device map's file and discovery prefix. */
export interface DevicesServiceOptions extends Omit<NativeCommanderOptions, 'router'> {
  readonly file: string;
  readonly discoveryPrefix: string;
  readonly watch?: boolean;
  /** This start's watch for a power cut of the gateway's host (power-cut.ts). */
  readonly powerCut?: PowerCutWatch;
}

/** An actuator's last report as the rules rebuilt it (rules/views.ts ActuatorView). */
export interface StoredReport {
  readonly site: string;
  readonly zone: string;
  readonly actuator: string;
  readonly reported: Readonly<Record<string, unknown>> | undefined;
  readonly reportedAt: number | undefined;
}

/** A contract device the map places a heard native device as (the live page shows it there once placed). */
export interface PlacedDevice {
  readonly device: string;
  readonly site: string;
  readonly zone: string;
  readonly online: boolean | null;
  readonly lastSeen: number;
}

/** A device waiting for a zone, as the live page shows it. */
export interface WaitingDevice {
  readonly key: string;
  readonly lastSeen: number;
  readonly kinds: readonly string[];
  readonly unmapped: number;
}

export class DevicesService {
  readonly router: SharingRouter;
  readonly loader: DeviceMapLoader;
  private readonly commander: NativeCommander;
  /** A Zigbee2MQTT rename followed by the map (rename.ts). */
  private readonly follower: RenameFollower;
  private offSilence: (() => void) | undefined;
  /** Telling the other nodes (a cluster's) and retaining (kept-learning.ts) what devices teach. */
  private offShare: (() => void)[] = [];
  /** A cluster node's: GET /api/devices asks every node. */
  private clusterViews: ClusterDeviceViews | undefined;
  private readonly mapListeners = new Set<() => void>();
  /** Typos that place or command nothing: warned of at each load of the map or the rules. */
  private readonly typos: MapTypoCheck;

  constructor(private readonly o: DevicesServiceOptions) {
    // The map in force changed (a rename followed): its listeners hear it now, not at the file's reload.
    const renamed = (r: Parameters<RenameFollower['follow']>[0]): void => void (this.follower.follow(r), this.tellMapListeners());
    this.router = new SharingRouter({ zigbee2mqttBaseTopic: o.zigbee2mqttBaseTopic, discoveryPrefix: o.discoveryPrefix, evicted: evictionCounter(o.metrics, o.log), refused: refusalCounter(o.metrics, o.log), cut: cutCounter(o.metrics, o.log), renamed, powerCut: o.powerCut, rpcError: (e) => this.commander.rpcError(e) }, EMPTY_MAP);
    this.loader = new DeviceMapLoader({ file: o.file, log: o.log, watch: o.watch, onChange: (map) => this.mapChanged(map) });
    this.follower = new RenameFollower({ router: this.router, loader: this.loader, file: o.file, log: o.log, metrics: o.metrics, clock: o.clock, base: o.zigbee2mqttBaseTopic });
    this.commander = new NativeCommander({ ...o, router: this.router });
    const unplaced = () => [...this.router.registry.all()].filter((e) => e.messages > 0 && !this.router.placement.placementsOf(e.family, e.nativeId));
    this.typos = new MapTypoCheck({ log: o.log, map: () => this.loader.map, unplaced });
  }

  /** The actuator names the rules in force command (wired by the composition root). */
  rulesCommand(actuators: ReadonlySet<string>): void {
    this.typos.rules(actuators);
  }

  async start(): Promise<void> {
    // The valves' kept setpoints first: the map's load prunes those it no longer names (mapChanged).
    await this.commander.start();
    await this.loader.start();
    this.offSilence = this.o.bus.on('deviceSilence', (e) => this.silence(e));
  }

  async stop(): Promise<void> {
    this.offSilence?.();
    for (const off of this.offShare.splice(0)) off();
    this.clusterViews?.stop();
    await this.commander.stop();
    await this.follower.settled();
    await this.loader.stop();
  }

  /**
   * What a report from actuator `target` (`site/zone/actuator`) must hold to confirm command
   * `data`: for one the map ties to a native device, what that device was asked (a switch: on/off);
   * for the others, the data. The rules' sagas use it (wired by the composition root).
   */
  readonly expectedReport = (target: string, data: CommandData): CommandData => {
    const actuator = this.router.actuator(target);
    return actuator ? expectedReport(data, this.router.kind(actuator)) : data;
  };

  /** A stored report the rules' rebuild replays, in time order, before they go live (actuator-states.ts). */
  readonly replayed = (r: ReplayedReport): void => replayedReport(this.router, r);

  /** The native device behind actuator `target`, whether it said it is online and since when it is offline (rules/saga.ts ActuatorAvailability). */
  readonly availability = (target: string): { device: string; online: boolean | null; since: number | undefined; lastSeen: number | undefined } | undefined => {
    const a = this.router.actuator(target);
    if (!a) return undefined;
    const { registry } = this.router;
    const e = registry.get(a.family, a.nativeId);
    const online = registry.onlineOf(e ?? { family: a.family, nativeId: a.nativeId, online: null });
    return { device: `${a.family}:${a.nativeId}`, online, since: e?.offlineSince, lastSeen: e?.lastSeen };
  };

  /**
   * At start, before the rules rebuild (their resends go out in each device's form) and before the
   * broker listens: what the restored retained messages taught (relearn.ts); their availability
   * waits for `relearnt` (after the seed from the history). A cluster node's (`cluster`: its broker,
   * id and the live nodes) also tells and hears what the other nodes are taught
   * (shared-learning.ts), and lists every node's devices (cluster-view.ts).
   */
  async relearn(sources: RelearnSources & { cluster?: Omit<ClusterViewOptions, 'view' | 'log'> }): Promise<void> {
    const { clock, log } = this.o;
    const { cluster } = sources;
    // Aedes' persistence and bus set up first: what is subscribed on it before is not heard from the other nodes.
    await sources.broker.restore();
    if (sources.aedes) this.offShare.push(keepLearning({ aedes: sources.aedes, router: this.router, log }));
    if (cluster) {
      this.offShare.push(shareLearning({ aedes: cluster.aedes, router: this.router, clock, log }));
      this.clusterViews = new ClusterDeviceViews({ ...cluster, view: () => this.view(), log });
      this.clusterViews.start();
    }
    this.relearning = await teachRetained({ ...sources, router: this.router, discoveryPrefix: this.o.discoveryPrefix, now: clock.now(), log });
  }
  private relearning: Relearning | undefined;

  /** After the seed from the history: the availability retained, then the map's listeners hear what is placed (the live page drops the names seeded from history that no longer are). */
  relearnt(): { read: number; learnt: number } {
    const r = this.relearning?.availability() ?? { read: 0, learnt: 0 };
    this.relearning = undefined;
    this.tellMapListeners();
    return r;
  }

  /** Reads the map again now (before a redrive, so an assignment just written counts). */
  reload(): Promise<void> {
    return this.loader.reload();
  }

  private mapChanged(map: Parameters<SharingRouter['use']>[0]): void {
    this.router.use(map);
    this.commander.mapLoaded();
    this.typos.check();
    this.tellMapListeners();
  }

  private tellMapListeners(): void {
    for (const listener of this.mapListeners) listener();
  }

  /** Calls `listener` after each load that changed the map in force (a device placed, moved, gone) and each rename followed; returns how to stop. */
  onMapChange(listener: () => void): () => void {
    this.mapListeners.add(listener);
    return () => void this.mapListeners.delete(listener);
  }

  /**
   * The heard native devices the map places, as the contract devices they are there: one placed
   * since they last spoke is shown in its zone at once (the live page), not once it speaks again.
   */
  placed(): PlacedDevice[] {
    const out = new Map<string, PlacedDevice>();
    const { registry, placement } = this.router;
    for (const e of registry.all()) {
      if (e.messages === 0 && e.online === null) continue;
      const online = registry.onlineOf(e);
      for (const p of placement.placementsOf(e.family, e.nativeId) ?? []) if (!out.has(p.device)) out.set(p.device, { device: p.device, site: p.site, zone: p.zone, online, lastSeen: e.lastSeen });
    }
    return [...out.values()];
  }

  /** The silence watch speaks of contract devices: the native devices placing one are silent (or back) with it. */
  private silence(e: DeviceSilenceEvent): void {
    for (const d of this.router.placement.placing(e.device)) {
      const entry = this.router.registry.get(d.family, d.nativeId);
      if (entry) entry.silentSince = e.silent ? e.timeMs : undefined;
    }
  }

  /** Where a contract device the map places is (the live page: a status names only the device). */
  placeOf(device: string): { readonly site: string; readonly zone: string } | undefined {
    return this.router.placement.zoneOf(device);
  }

  /**
   * A Zigbee2MQTT device named `<site>/<zone>/<device>` is there (the map does not say otherwise), as
   * long as it is heard or its bridge lists it: any name of that shape would be placed, a gone one too.
   */
  placesByName(site: string, zone: string, device: string): boolean {
    const { router, o } = this;
    const name = `${site}/${zone}/${device}`;
    if (!router.placement.placementsOf('zigbee2mqtt', name)?.some((p) => p.site === site && p.zone === zone && p.device === device)) return false;
    return router.registry.get('zigbee2mqtt', name) !== undefined || router.learnt.zigbee2mqttListed(o.zigbee2mqttBaseTopic, name);
  }

  view(): DeviceView[] {
    return this.router.registry.view((f, id) => this.router.placement.placementsOf(f, id));
  }

  /**
   * After a restart, the placed native devices the stored history knows (the rebuild's devices and
   * latest readings, as the live page opens on): GET /api/devices lists them at once with what was
   * stored (online as their availability last said, last seen, kinds, battery) instead of only once
   * each speaks again. Their message counts start from 0.
   */
  seed(devices: readonly DeviceLiveness[], readings: readonly ReadingEvent[], reports: readonly StoredReport[] = []): void {
    const native = new Map<string, NativeDevice>();
    for (const d of this.router.map.devices.values()) for (const p of d.placements) native.set(p.device, d);
    const seeds = new Map<NativeDevice, { first: number; last: number; online: boolean | null; saidAt: number; kinds: Set<string>; battery: number | null; silentAt?: number }>();
    const seedOf = (device: string, time: number) => {
      const n = native.get(device);
      if (!n) return undefined;
      let s = seeds.get(n);
      if (!s) seeds.set(n, (s = { first: time, last: time, online: null, saidAt: -Infinity, kinds: new Set(), battery: null }));
      s.first = Math.min(s.first, time);
      s.last = Math.max(s.last, time);
      return s;
    };
    for (const r of readings) {
      const s = seedOf(r.device, r.timeMs);
      s?.kinds.add(r.kind);
      if (s && r.kind === 'battery' && typeof r.value === 'number') s.battery = r.value;
    }
    for (const d of devices) {
      const n = native.get(d.device);
      if (!n) continue;
      // Found silent is not seen: a silence only dates a device known by nothing else (as on the live page).
      const s = d.heardMs === undefined && seeds.has(n) ? seeds.get(n) : seedOf(d.device, d.heardMs ?? d.atMs);
      // A status sets both online and heardMs; of several placements, the newest word.
      if (s && d.online !== null && d.heardMs !== undefined && d.heardMs >= s.saidAt) [s.online, s.saidAt] = [d.online, d.heardMs];
      if (s && d.silent) s.silentAt = d.atMs;
    }
    // Before the broker listens: nothing newer is known of them.
    for (const [n, s] of seeds) {
      // An entry a restored discovery config made at this start (relearn) was not heard then: the history's times.
      const e = this.router.registry.seen(n.family, n.nativeId, s.first);
      [e.firstSeen, e.lastSeen] = [Math.min(e.firstSeen, s.first), s.last];
      [e.online, e.onlineFromHistory] = [s.online, s.online !== null];
      if (s.silentAt !== undefined) e.silentSince = s.silentAt;
      e.battery ??= s.battery;
      for (const k of s.kinds) e.kinds.add(k);
    }
    seedReports(this.router, reports);
  }

  /** The devices waiting for a zone, most recently heard first (at most `max`). */
  waiting(max = 50): WaitingDevice[] {
    const out: WaitingDevice[] = [];
    for (const e of this.router.registry.all()) {
      if (this.router.placement.placementsOf(e.family, e.nativeId)) continue;
      if (e.messages === 0) continue;
      out.push({ key: e.key, lastSeen: e.lastSeen, kinds: [...e.kinds].sort(), unmapped: e.unmapped.size });
    }
    return out.sort((a, b) => b.lastSeen - a.lastSeen).slice(0, max);
  }

  /** `GET /api/devices`, in pages (devices-route.ts). */
  readonly devicesRoute = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
    devicesRoute({ router: this.router, loader: this.loader, file: this.o.file, cluster: () => this.clusterViews }, req, res);
}
