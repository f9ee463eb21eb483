/**
 * Native commands out: when the rules command an actuator that the device map ties to a native
 * device, the device's own command is published as well as the `commands/…` CloudEvent (which is
 * unchanged): QoS 1, not retained, each publish stored (`native_commands`) with the id of the
 * command it carries out.
 */
import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { logWarn } from '../core/errors.js';
import type { CommandEvent, NativeCommandEvent } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import type { Publisher } from '../core/publisher.js';
import type { Store } from '../core/store.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { entityOf, nativeCommandOf } from './actuator-form.js';
import { hvacSwitchHint, type ActuatorKind } from './actuator-kind.js';
import { encode as haEncode } from './families/homeassistant-state.js';
import { encode } from './index.js';
import type { NativeActuator } from './map.js';
import { ResumeSetpoints } from './resume-setpoints.js';
import type { NativeRouter } from './router.js';
import type { EncodeOptions, EncodeResult, NativeCommand, ShellyOutput, ShellyRpcError, TasmotaLayout } from './types.js';

/** A Shelly RPC request this node sent: the command it carries out, and whether the device's status had told its component. */
interface SentRpc {
  readonly nativeId: string;
  readonly commandId: string;
  readonly target: string;
  readonly method: string;
  readonly learnt: boolean;
}

export interface NativeCommanderOptions {
  readonly bus: EventBus;
  readonly publisher: Publisher;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly log: Logger;
  readonly router: NativeRouter;
  readonly zigbee2mqttBaseTopic: string;
  /** Where the setpoints of valves turned down are kept across a restart (resume-setpoints.ts); none: in memory only. */
  readonly resumeFile?: string;
}

export class NativeCommander {
  private off: (() => void) | undefined;
  private readonly logLimiter: LogLimiter;
  /** A Shelly Gen2+ RPC frame's `id`, one per request (its answer on `<src>/rpc` repeats it): increasing from 1. */
  private rpcId = 0;
  /** The latest RPC requests by id: an error answer (router.ts) is said with the command it refuses. Answers come within seconds. */
  private readonly rpcs = new BoundedMap<number, SentRpc>(1000);
  /** The hvac switches already warned of (hvacSwitchHint): once each, map entries being few. */
  private readonly hinted = new Set<string>();
  /** The Tasmotas commanded under the map's first template for want of anything learnt, said once each (bounded: devices are many). */
  private readonly guessed = new BoundedMap<string, true>(10_000);
  /**
   * Heat-only valves turned down to their lowest setpoint for off (actuator-kind.ts), by target: the
   * setpoint each reported before, sent back with a later mode that gives none (else the valve stays
   * at its minimum, the room cold). One per mapped actuator at most; kept across a restart.
   */
  private readonly resumeAt: ResumeSetpoints;

  constructor(private readonly o: NativeCommanderOptions) {
    this.logLimiter = new LogLimiter(o.log);
    this.resumeAt = new ResumeSetpoints(o.resumeFile, o.log);
  }

  async start(): Promise<void> {
    await this.resumeAt.load();
    this.off = this.o.bus.on('command', (c) => this.onCommand(c));
  }

  async stop(): Promise<void> {
    this.off?.();
    await this.resumeAt.settled();
  }

  /** A device map loaded (devices/service.ts, after `start`): the setpoints kept for actuators it no longer names go. */
  mapLoaded(): void {
    const gone = this.resumeAt.keepOnly((target) => this.o.router.actuator(target) !== undefined);
    if (gone.length > 0) this.o.log.info({ targets: gone.slice(0, 20), count: gone.length }, `forgot the setpoints kept for ${gone.length} valves turned down that the device map no longer names`);
  }

  private onCommand(c: CommandEvent): void {
    const actuator = this.o.router.actuator(`${c.site}/${c.zone}/${c.actuator}`);
    if (!actuator) return;
    const kind = this.o.router.kind(actuator);
    const target = `${c.site}/${c.zone}/${c.actuator}`;
    const command = nativeCommandOf(this.resumed(c, target, kind), kind);
    this.remember(target, command, kind);
    const result: EncodeResult = typeof command === 'string' ? { ok: false, reason: `${actuator.family}:${actuator.nativeId}: ${command}` } : this.encode(actuator, command, shellyUse(c));
    const base = { commandId: c.id, site: c.site, zone: c.zone, actuator: c.actuator, family: actuator.family, device: `${actuator.family}:${actuator.nativeId}` };
    this.explain(c, kind, command, base.device);
    if (!result.ok) {
      this.o.metrics.nativeCommands.inc({ family: actuator.family, result: 'unencodable' });
      if (this.logLimiter.allow(`native command ${base.device}`)) logWarn(this.o.log, 'GW_ERR_NATIVE_COMMAND', { eventId: c.id, target: `${c.site}/${c.zone}/${c.actuator}`, reason: result.reason }, 'no native command for this actuator; the commands/ CloudEvent went out');
      this.keep({ ...base, id: newEventId(), topic: '', payload: '', error: result.reason, timeMs: this.o.clock.now() });
      return;
    }
    for (const p of result.publishes) {
      const event: NativeCommandEvent = { ...base, id: newEventId(), topic: p.topic, payload: p.payload, timeMs: this.o.clock.now() };
      this.keep(event);
      this.o.log.info({ eventId: event.id, commandId: c.id, device: base.device, topic: p.topic, payload: p.payload }, 'native command');
      if (actuator.family === 'shelly' && p.topic.endsWith('/rpc')) this.sentRpc(actuator, target, c.id, p.payload);
      this.o.publisher.publish(p.topic, p.payload, 1).then(
        () => this.o.metrics.nativeCommands.inc({ family: actuator.family, result: 'sent' }),
        (err: unknown) => {
          this.o.metrics.nativeCommands.inc({ family: actuator.family, result: 'failed' });
          this.o.log.error({ err, eventId: event.id, commandId: c.id }, 'could not publish a native command');
        },
      );
    }
  }

  /** The rules' command data; for a valve turned down, a mode without a setpoint takes the one it had before. */
  private resumed(c: CommandEvent, target: string, kind: ActuatorKind): Readonly<Record<string, unknown>> {
    const data = c.cloudEvent.data;
    if (!kind.floor || data['setpoint'] !== undefined || typeof data['mode'] !== 'string' || data['mode'] === 'off') return data;
    const now = this.o.router.reported(target)?.setpoint;
    // Raised by hand since (its report above the minimum): it keeps that setpoint.
    if (typeof now === 'number' && now > kind.floor.value) this.resumeAt.delete(target);
    const back = this.resumeAt.get(target);
    if (back !== undefined) {
      this.o.log.info({ commandId: c.id, target, asked: data, setpoint: back }, `mode ${JSON.stringify(data['mode'])} without a setpoint to a valve turned down to its lowest: sent with the setpoint it had before, ${back}`);
      return { ...data, setpoint: back };
    }
    if (now === kind.floor.value && this.logLimiter.allow(`resume ${target}`)) this.o.log.warn({ commandId: c.id, target }, `mode ${JSON.stringify(data['mode'])} without a setpoint: the valve stays at its lowest setpoint (${kind.floor.value}); give the command a setpoint`);
    return data;
  }

  /** A turn-down keeps the setpoint the valve reported before it; a setpoint sent replaces it. */
  private remember(target: string, command: NativeCommand | string, kind: ActuatorKind): void {
    if (typeof command !== 'object' || !kind.floor) return;
    if ('attribute' in command) {
      const before = this.o.router.reported(target)?.setpoint;
      if (typeof before === 'number' && before > kind.floor.value) this.resumeAt.set(target, before);
    } else if ('mode' in command && command.setpoint !== undefined) this.resumeAt.delete(target);
  }

  /** Says why the device is sent other than what the rules asked: off for a mode it cannot do, or its lowest setpoint; a plain switch as hvac (once per target). */
  private explain(c: CommandEvent, kind: ActuatorKind, command: NativeCommand | string, device: string): void {
    const asked = c.cloudEvent.data['mode'];
    const target = `${c.site}/${c.zone}/${c.actuator}`;
    if (typeof command === 'object' && 'mode' in command && command.mode !== asked) this.o.log.info({ commandId: c.id, target, device, asked, sent: command.mode, modes: kind.modes }, `the device does not take mode ${JSON.stringify(asked)}: sent off instead`);
    if (typeof command === 'object' && 'attribute' in command) this.o.log.info({ commandId: c.id, target, device, asked, sent: { [command.attribute]: command.setpoint }, modes: kind.modes }, `the device takes neither mode ${JSON.stringify(asked)} nor off: sent its lowest heating setpoint instead`);
    const hint = typeof asked === 'string' && asked !== 'off' && !this.hinted.has(target) ? hvacSwitchHint(c, kind.form, kind.drives) : undefined;
    if (hint === undefined) return;
    this.hinted.add(target);
    this.o.log.warn({ target, device, hint }, `${target} is a plain switch: switched on for ${JSON.stringify(asked)}`);
  }

  private sentRpc(a: NativeActuator, target: string, commandId: string, payload: string): void {
    const { id, method } = JSON.parse(payload) as { id: number; method: string };
    this.rpcs.set(id, { nativeId: a.nativeId, commandId, target, method, learnt: this.o.router.learnt.shellyOutput(a.nativeId, a.channel ?? '0') !== undefined });
  }

  /**
   * A Shelly's RPC error answer to the gateway: at warn (rate-limited per device), with the device,
   * its error and, when this node sent the request, the command. Its src is the device id: a request
   * of another node (a cluster) or from before a restart with the same id is not taken for it.
   */
  rpcError(e: ShellyRpcError): void {
    const sent = typeof e.rpcId === 'number' ? this.rpcs.get(e.rpcId) : undefined;
    const mine = sent && (sent.nativeId === e.src || sent.nativeId.endsWith(`/${e.src}`)) ? sent : undefined;
    const device = `shelly:${mine?.nativeId ?? e.src}`;
    if (!this.logLimiter.allow(`rpc error ${device}`)) return;
    const about = mine ? { commandId: mine.commandId, target: mine.target, method: mine.method } : {};
    // Switch.Set is the guess for a device not heard yet: a light (Light.Set, RGBW.Set…) says so in its status.
    const hint = mine && !mine.learnt ? { hint: `its status was not heard yet, so it was sent ${mine.method}; once it reports (NotifyStatus, NotifyFullStatus or status/<component>: enable RPC status notifications), its commands go to the component it shows` } : {};
    logWarn(this.o.log, 'GW_ERR_NATIVE_REFUSED', { device, rpcId: e.rpcId, rpcCode: e.code, error: e.message, ...about, ...hint }, `${device} answered ${mine ? `${mine.method} (command ${mine.commandId})` : `RPC request ${e.rpcId}`} with an error: ${e.message}`);
  }

  private keep(event: NativeCommandEvent): void {
    // Commands are few and must be recorded even with the spool full.
    this.o.store.keep('nativeCommand', event, true);
  }

  /**
   * A Shelly's: what it taught of its outputs (a channel of several components: the one `use` says,
   * learnt.ts shellyOutput), and an RPC id of its own for this request (kept to find the
   * command an error answer is about).
   */
  private shelly(a: NativeActuator, use: ShellyUse): EncodeOptions {
    const { learnt } = this.o.router;
    const output = learnt.shellyOutput(a.nativeId, a.channel ?? '0', use);
    return { shellyLightMode: learnt.shellyLightMode(a.nativeId), rpcId: ++this.rpcId, ...(output ? { shellyOutput: output } : {}) };
  }

  private encode(a: NativeActuator, command: NativeCommand, use: ShellyUse): EncodeResult {
    switch (a.family) {
      case 'homeassistant': {
        const entity = entityOf(this.o.router.discovery.entities(), a);
        return typeof entity === 'string' ? { ok: false, reason: entity } : haEncode(entity, command);
      }
      case 'generic':
        return { ok: false, reason: `generic:${a.nativeId}: a generic mapping has no commands` };
      default: {
        const layout = a.family === 'tasmota' ? this.tasmotaLayout(a.nativeId) : undefined;
        return encode(a.family, a.nativeId, a.channel, command, {
          zigbee2mqttBaseTopic: this.o.zigbee2mqttBaseTopic,
          ...(this.o.router.map.tasmota ? { tasmota: this.o.router.map.tasmota } : {}),
          ...(layout ? { tasmotaLayout: layout } : {}),
          ...(a.generation ? { shellyGeneration: a.generation } : {}),
          ...(a.family === 'shelly' ? this.shelly(a, use) : {}),
          ...(a.setpoint ? { setpointKeys: a.setpoint } : {}),
        });
      }
    }
  }

  /** The Tasmota's own FullTopic as learnt; none while nothing is known of it, which the log says once when the map lists several. */
  private tasmotaLayout(nativeId: string): TasmotaLayout | undefined {
    const layout = this.o.router.learnt.tasmotaLayout(nativeId);
    const templates = this.o.router.map.tasmota?.fullTopics ?? [];
    if (layout === undefined && templates.length > 1 && !this.guessed.has(nativeId)) {
      this.guessed.set(nativeId, true);
      this.o.log.info(
        { device: `tasmota:${nativeId}`, fullTopic: templates[0] },
        "no message of this Tasmota seen yet (nor its discovery config): commanded under the first of the device map's fullTopics until it says its own",
      );
    }
    return layout;
  }
}

type ShellyUse = Extract<ShellyOutput, 'switch' | 'light' | 'rgb'>;

/**
 * What a Shelly channel of several components is commanded as: a light's command (`lights.set`, or
 * one with a brightness) its light, one with a colour (`rgb`, `color`) its colour light (a Pro RGBWW
 * PM's rgb:0 beside light:0 or cct:0; the colour itself is not sent), any other (switch, plug, HVAC) its switch.
 */
function shellyUse(c: CommandEvent): ShellyUse {
  const { data } = c.cloudEvent;
  if (data['rgb'] !== undefined || data['color'] !== undefined) return 'rgb';
  return /^lights?\./.test(c.cloudEvent.type) || data['brightness'] !== undefined ? 'light' : 'switch';
}
