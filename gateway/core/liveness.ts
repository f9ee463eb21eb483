import type { DeviceHistoryItem } from './history.js';
import { isNativeStatusId } from './ids.js';

/** What the stored `device_status` points say of one device, as of the gateway's start. */
export interface DeviceLiveness {
  readonly device: string;
  /** What it last said on its status topic (online, or offline: its last will); null when unknown. */
  online: boolean | null;
  /** The gateway had found it silent and not heard it since. */
  silent: boolean;
  /** Epoch ms it was last heard from as these points tell (a status message, or heard again after a silence); undefined when none is known. */
  heardMs: number | undefined;
  /** Epoch ms of its last point, status or silence. */
  atMs: number;
  /** Its last status was a native device's availability (core/ids.ts nativeStatusId). */
  native?: boolean;
}

/**
 * Folds the stored statuses and silences, in time order, into each device's liveness as the live
 * page holds it: a status sets `online` (what the device said), a silence sets `silent` (what the
 * gateway found), and being heard again after a silence clears it without saying anything of
 * `online` (the live page does not either: a device that never said stays unknown). The page, the
 * silence watch and GET /api/devices start from it after a restart instead of forgetting who was
 * offline or silent. One entry per device with a `device_status` point among those read (the
 * rebuild reads each device's last status and last point before its window, then the window's):
 * online but silent after a silence that followed an online status; unknown but silent after a
 * silence of a device that never said.
 */
export class LivenessBook {
  private readonly devices = new Map<string, DeviceLiveness>();

  apply(item: DeviceHistoryItem): void {
    const e = item.event;
    let d = this.devices.get(e.device);
    if (!d) this.devices.set(e.device, (d = { device: e.device, online: null, silent: false, heardMs: undefined, atMs: e.timeMs }));
    d.atMs = Math.max(d.atMs, e.timeMs);
    if (item.type === 'deviceSilence') d.silent = item.event.silent;
    else [d.online, d.native] = [item.event.online, isNativeStatusId(item.event.id)];
    // Found silent is not heard; heard again (or a status) is.
    if (item.type === 'deviceSilence' && item.event.silent) return;
    d.heardMs = Math.max(d.heardMs ?? e.timeMs, e.timeMs);
  }

  list(): DeviceLiveness[] {
    return [...this.devices.values()];
  }
}
