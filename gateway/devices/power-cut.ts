/**
 * A whole-house power cut takes the gateway's machine down with the plugs and relays. The gateway
 * is their broker, so nothing sees them go offline (no last will is published by a dead broker);
 * power back, they boot in their power-on state, off, and connect to the restarted gateway. Their
 * own signs of a restart are lost or never given (a Zigbee2MQTT device_announce sent while the
 * broker was down; ESPHome, Home Assistant discovery and Shelly Gen1 say only `online`). So a start
 * that follows a power cut of the gateway's own host says it for them: each actuator's first news
 * after it (within POWER_CUT_WINDOW_MS) is its device coming back (for CAME_BACK_WINDOW_MS, as its
 * own word would be: some firmwares report twice), and the rules put an actuator that came back off
 * while they had it on back on (rules/differing-report.ts), as after any power cut. News: a state
 * other than its last one stored before the cut. What it said then is no news of a boot: a
 * Zigbee2MQTT starting publishes its cached states (cache_state_send_on_startup, on by default),
 * the device's own report of its power-on state comes after.
 *
 * A power cut of the host is the two together: the host booted shortly before this start
 * (POWER_CUT_BOOT_MS), and the last run did not stop (its DATA_DIR lock was left). A restart of the
 * gateway alone (a crash, a kill) on a host up for long, or a reboot that stopped it cleanly, is
 * not: there a report of another state is a change by hand, as ever.
 */
import { uptime } from 'node:os';
import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import { DeviceRegistry, type DeviceEntry } from './registry.js';

/** How long after such a start an actuator's first news is its device coming back: its boot, its reconnect back-off, a bridge started after the gateway. */
export const POWER_CUT_WINDOW_MS = 10 * 60_000;

/** Families whose firmware says a restart at its first connection after a boot (Tasmota's INFO3): without it, it did not restart. */
const SAYS_ITS_BOOT: ReadonlySet<string> = new Set(['tasmota']);

export interface PowerCutStart {
  /** The `cameBack` reason the reports taken as coming back carry. */
  readonly why: string;
  readonly until: number;
}

/** Whether this start follows a power cut of the host; `uptimeMs` is the host's (os.uptime()). */
export function powerCutAtStart(o: { readonly bootMs: number; readonly leftBehind: boolean; readonly now: number; readonly uptimeMs?: number }): PowerCutStart | undefined {
  if (o.bootMs <= 0 || !o.leftBehind) return undefined;
  const up = o.uptimeMs ?? uptime() * 1000;
  if (!(up <= o.bootMs)) return undefined;
  return { why: `power cut of the gateway's host (it booted ${Math.round(up / 1000)} s before this start; the last run did not stop)`, until: o.now + POWER_CUT_WINDOW_MS };
}

export class PowerCutWatch {
  /** Actuators (`site/zone/actuator`) that reported news since the start: only the first counts. Bounded like the registry. */
  private readonly heard = new BoundedMap<string, true>(10_000);

  constructor(private start: PowerCutStart | undefined) {}

  get active(): PowerCutStart | undefined {
    return this.start;
  }

  /** Device `e` reported actuator `target`'s state, `news` if not its last one stored: its first news since a start after a power cut of the host is its coming back. */
  reported(e: DeviceEntry, target: string, news: boolean, now: number): void {
    const start = this.start;
    if (!start) return;
    if (now > start.until) {
      this.start = undefined;
      this.heard.clear();
      return;
    }
    if (!news || this.heard.has(target)) return;
    this.heard.set(target, true);
    if (SAYS_ITS_BOOT.has(e.family)) return;
    // Its own word, said just now (a Zigbee2MQTT device_announce), is the better reason.
    if (DeviceRegistry.justBack(e, now) === undefined) DeviceRegistry.cameBack(e, now, start.why);
  }
}

/** The watch of this start, logged when it follows a power cut of the host. */
export function powerCutWatch(o: Parameters<typeof powerCutAtStart>[0] & { readonly log: Logger }): PowerCutWatch {
  const start = powerCutAtStart(o);
  if (start) {
    o.log.warn(
      { why: start.why, windowMs: POWER_CUT_WINDOW_MS },
      `this start follows a power cut of the gateway's host: for ${POWER_CUT_WINDOW_MS / 60_000} min, each native actuator's first report of another state than its last one stored is its power-on state, and an actuator the rules had on that comes back off is put back on`,
    );
  }
  return new PowerCutWatch(start);
}
