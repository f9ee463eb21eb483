/**
 * `GET /api/devices`, in pages: the registry (waiting devices first), the map in force, the mapped
 * actuators. `?limit=` (DEFAULT_LIMIT, at most MAX_LIMIT), `?after=` the last page's `next`,
 * `?status=unassigned` only the devices waiting for a zone. A page is made of its own devices
 * only: the whole registry, at 10,000 devices, made one string of hundreds of MB and held the
 * event loop for seconds (ingest, PUBACKs). A cluster node's lists every node's devices, each
 * with the nodes that heard it (`heardBy`), and the nodes that did not answer in time (`unanswered`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterDeviceViews } from './cluster-view.js';
import type { DeviceMapLoader } from './map-loader.js';
import { DEFAULT_LIMIT, MAX_LIMIT, pageOf, pageOfViews, type PageAsk } from './registry-view.js';
import type { SharingRouter } from './shared-learning.js';

export interface DevicesRouteParts {
  readonly router: SharingRouter;
  readonly loader: DeviceMapLoader;
  readonly file: string;
  readonly cluster: () => ClusterDeviceViews | undefined;
}

/** What the query asks, or why it cannot be answered (400). */
export function pageAsk(url: string | undefined): PageAsk | string {
  const q = new URL(url ?? '/', 'http://localhost').searchParams;
  const limitText = q.get('limit');
  const limit = limitText === null ? DEFAULT_LIMIT : /^\d+$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1)) return `limit must be a whole number from 1 (at most ${MAX_LIMIT} are listed a page)`;
  const status = q.get('status');
  if (status !== null && status !== 'unassigned') return 'status must be unassigned (the devices waiting for a zone), or left out';
  const after = q.get('after');
  if (after !== null && !/^[01]:/.test(after)) return 'after must be the last page’s next';
  return { limit: Math.min(limit, MAX_LIMIT), ...(after === null ? {} : { after }), ...(status === null ? {} : { unassigned: true }) };
}

export async function devicesRoute(p: DevicesRouteParts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ask = pageAsk(req.url);
  const json = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (typeof ask === 'string') return void res.writeHead(400, json).end(JSON.stringify({ error: ask }));
  const { router, loader } = p;
  const map = router.map;
  const cluster = await p.cluster()?.gather();
  const page = cluster ? pageOfViews(cluster.devices, ask) : pageOf(router.registry, (f, id) => router.placement.placementsOf(f, id), ask);
  const body = {
    map: { file: p.file, devices: map.devices.size, actuators: map.actuators.size, kinds: map.kinds.map((k) => k.name), ...(loader.problem ? { problem: loader.problem } : {}) },
    devices: page.devices,
    total: page.total,
    limit: ask.limit,
    ...(page.next === undefined ? {} : { next: page.next }),
    ...(cluster ? { unanswered: cluster.unanswered } : {}),
    actuators: [...map.actuators.values()].map((a) => {
      const reported = router.reported(a.target);
      // form: what a mode command becomes (switch: on/off; thermostat: mode and setpoint), as the map or the device says; drives: a switch's appliance.
      return { target: a.target, device: `${a.family}:${a.nativeId}`, ...(a.channel === undefined ? {} : { channel: a.channel }), form: router.form(a), ...(a.drives ? { drives: a.drives } : {}), ...(reported ? { reported } : {}) };
    }),
  };
  res.writeHead(200, json).end(JSON.stringify(body));
}
