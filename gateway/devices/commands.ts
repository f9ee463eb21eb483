/**
 * Native commands out: when the rules command an actuator that the device map ties to a native
 * device, the device's own command is published as well as the `commands/…` CloudEvent (which is
 * unchanged): QoS 1, not retained, each publish stored (`native_commands`) with the id of the
 * command it carries out.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { logWarn } from '../core/errors.js';
import type { CommandData, CommandEvent, NativeCommandEvent } from '../core/events.js';
import { newEventId } from '../core/ids.js';
import type { Publisher } from '../core/publisher.js';
import type { Store } from '../core/store.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { encode as haEncode } from './families/homeassistant-state.js';
import type { DiscoveredEntity } from './families/homeassistant.js';
import { encode } from './index.js';
import type { NativeActuator } from './map.js';
import type { NativeRouter } from './router.js';
import type { EncodeResult, NativeCommand } from './types.js';

export interface NativeCommanderOptions {
  readonly bus: EventBus;
  readonly publisher: Publisher;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly log: Logger;
  readonly router: NativeRouter;
  readonly zigbee2mqttBaseTopic: string;
}

/** A rule's command data as a native command: on/off, or a mode with its setpoint. */
export function nativeCommandOf(data: Readonly<Record<string, unknown>>, actuator: NativeActuator): NativeCommand | string {
  const { state, mode, setpoint } = data;
  if (setpoint !== undefined && (typeof setpoint !== 'number' || !Number.isFinite(setpoint))) return `setpoint ${JSON.stringify(setpoint)} is not a number`;
  if (state === 'on' || state === 'off') return { state };
  if (typeof mode === 'string' && mode !== '') {
    // A relay (Tasmota, Shelly) driving an HVAC unit or a fan: off is off, any other mode is on.
    if (actuator.family === 'tasmota' || actuator.family === 'shelly') return { state: mode === 'off' ? 'off' : 'on' };
    return setpoint === undefined ? { mode } : { mode, setpoint: setpoint };
  }
  return `${JSON.stringify(data)} has neither state on/off nor a mode`;
}

/**
 * What a native actuator reports once it has carried out command `data`: what it was asked, in the
 * terms its reports come in (decoders turn them into `{state}`, `{mode, setpoint}`). A relay given
 * a mode reports on or off, a switch given a brightness only on; a command with no native form is
 * expected as it is.
 */
export function expectedReport(data: CommandData, actuator: NativeActuator): CommandData {
  const command = nativeCommandOf(data, actuator);
  return typeof command === 'string' ? data : command;
}

export class NativeCommander {
  private off: (() => void) | undefined;
  private readonly logLimiter: LogLimiter;

  constructor(private readonly o: NativeCommanderOptions) {
    this.logLimiter = new LogLimiter(o.log);
  }

  start(): void {
    this.off = this.o.bus.on('command', (c) => this.onCommand(c));
  }

  stop(): void {
    this.off?.();
  }

  private onCommand(c: CommandEvent): void {
    const actuator = this.o.router.actuator(`${c.site}/${c.zone}/${c.actuator}`);
    if (!actuator) return;
    const command = nativeCommandOf(c.cloudEvent.data, actuator);
    const result: EncodeResult = typeof command === 'string' ? { ok: false, reason: `${actuator.family}:${actuator.nativeId}: ${command}` } : this.encode(actuator, command);
    const base = { commandId: c.id, site: c.site, zone: c.zone, actuator: c.actuator, family: actuator.family, device: `${actuator.family}:${actuator.nativeId}` };
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
      this.o.publisher.publish(p.topic, p.payload, 1).then(
        () => this.o.metrics.nativeCommands.inc({ family: actuator.family, result: 'sent' }),
        (err: unknown) => {
          this.o.metrics.nativeCommands.inc({ family: actuator.family, result: 'failed' });
          this.o.log.error({ err, eventId: event.id, commandId: c.id }, 'could not publish a native command');
        },
      );
    }
  }

  private keep(event: NativeCommandEvent): void {
    // Commands are few and must be recorded even with the spool full.
    this.o.store.keep('nativeCommand', event, true);
  }

  private encode(a: NativeActuator, command: NativeCommand): EncodeResult {
    switch (a.family) {
      case 'homeassistant': {
        const entity = this.entityOf(a);
        return typeof entity === 'string' ? { ok: false, reason: entity } : haEncode(entity, command);
      }
      case 'generic':
        return { ok: false, reason: `generic:${a.nativeId}: a generic mapping has no commands` };
      default:
        return encode(a.family, a.nativeId, a.channel, command, {
          zigbee2mqttBaseTopic: this.o.zigbee2mqttBaseTopic,
          ...(this.o.router.map.tasmota ? { tasmota: this.o.router.map.tasmota } : {}),
          ...(a.generation ? { shellyGeneration: a.generation } : {}),
          ...(a.family === 'shelly' ? { shellyLightMode: this.o.router.learnt.shellyLightMode(a.nativeId) } : {}),
          ...(a.setpoint ? { setpointKeys: a.setpoint } : {}),
        });
    }
  }

  /** The discovered entity an actuator entry names: its `channel` is the object id, or the device's only switch, light or climate. */
  private entityOf(a: NativeActuator): DiscoveredEntity | string {
    const own = [...this.o.router.discovery.entities()].filter((e) => e.nativeId === a.nativeId && ['switch', 'light', 'climate', 'fan'].includes(e.component));
    const chosen = a.channel === undefined ? (own.length === 1 ? own[0] : undefined) : own.find((e) => e.objectId === a.channel);
    if (chosen) return chosen;
    if (own.length === 0) return `homeassistant:${a.nativeId}: no discovery config for a switch, light or climate of this device has been seen yet`;
    return `homeassistant:${a.nativeId}: ${a.channel === undefined ? `has ${own.length} commandable entities (${own.map((e) => e.objectId).join(', ')}): set channel: to one` : `has no entity ${a.channel}`}`;
  }
}
