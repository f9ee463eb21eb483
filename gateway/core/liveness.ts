import type { DeviceHistoryItem } from './history.js';

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
}

/**
 * Folds the stored statuses and silences, in time order, into each device's liveness as the live
 * page holds it: a status sets `online`, a silence sets `silent`, and being heard again after a
 * silence (stored `online=true`) means it is talking, so online. The page and the silence watch
 * start from it after a restart instead of forgetting who was offline or silent. One entry per
 * device with a `device_status` point among those read (the rebuild reads one row per device
 * before its window, then the window's points): a silence alone leaves `online` unknown.
 */
export class LivenessBook {
  private readonly devices = new Map<string, DeviceLiveness>();

  apply(item: DeviceHistoryItem): void {
    const e = item.event;
    let d = this.devices.get(e.device);
    if (!d) this.devices.set(e.device, (d = { device: e.device, online: null, silent: false, heardMs: undefined, atMs: e.timeMs }));
    d.atMs = Math.max(d.atMs, e.timeMs);
    if (item.type === 'deviceSilence') d.silent = item.event.silent;
    if (item.type === 'deviceSilence' && item.event.silent) return;
    d.online = item.type === 'deviceStatus' ? item.event.online : true;
    d.heardMs = e.timeMs;
  }

  list(): DeviceLiveness[] {
    return [...this.devices.values()];
  }
}
