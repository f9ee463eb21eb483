import { isKind, unknownKindDetail, type Kind } from '../core/kinds.js';
import { SEGMENT, SEGMENT_HINT } from '../core/segments.js';

/** What a topic means to the gateway. */
export type Route =
  | { readonly route: 'reading'; readonly site: string; readonly zone: string; readonly device: string; readonly kind: Kind }
  | { readonly route: 'status'; readonly device: string }
  | { readonly route: 'zoneArmed'; readonly site: string; readonly zone: string }
  | { readonly route: 'actuatorState'; readonly device: string }
  | { readonly route: 'alarmAck'; readonly site: string; readonly alarmId: string }
  /** Topics the gateway itself publishes (commands, alerts, dead letters). */
  | { readonly route: 'reserved' }
  | { readonly route: 'invalid'; readonly code: TopicProblem; readonly detail: string };

export type TopicProblem = 'invalid_topic' | 'unknown_kind' | 'unknown_topic';


function badSegment(segments: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < names.length; i++) {
    const s = segments[i] ?? '';
    if (!SEGMENT.test(s)) {
      return `${names[i]} segment ${JSON.stringify(s)} must match ${SEGMENT_HINT}`;
    }
  }
  return undefined;
}

/**
 * Parses a topic against the contract. Reading: `sensors/<site>/<zone>/<device>/<kind>`;
 * status: `devices/<device>/status`; an actuator's state: `devices/<device>/state`; zone arming:
 * `zones/<site>/<zone>/armed`; an operator acknowledging an alarm: `alarms/<site>/<alarm id>/ack`.
 */
export function parseTopic(topic: string): Route {
  const segments = topic.split('/');
  const root = segments[0];
  switch (root) {
    case 'sensors': {
      if (segments.length !== 5) {
        return { route: 'invalid', code: 'invalid_topic', detail: `expected sensors/<site>/<zone>/<device>/<kind> (5 segments), got ${segments.length}` };
      }
      const problem = badSegment(segments.slice(1), ['site', 'zone', 'device', 'kind']);
      if (problem) return { route: 'invalid', code: 'invalid_topic', detail: problem };
      const [, site = '', zone = '', device = '', kind = ''] = segments;
      if (!isKind(kind)) return { route: 'invalid', code: 'unknown_kind', detail: unknownKindDetail(kind) };
      return { route: 'reading', site, zone, device, kind };
    }
    case 'devices': {
      if (segments.length !== 3 || (segments[2] !== 'status' && segments[2] !== 'state')) {
        return { route: 'invalid', code: 'invalid_topic', detail: 'expected devices/<device>/status or devices/<device>/state' };
      }
      const problem = badSegment(segments.slice(1), ['device']);
      if (problem) return { route: 'invalid', code: 'invalid_topic', detail: problem };
      return segments[2] === 'status' ? { route: 'status', device: segments[1] ?? '' } : { route: 'actuatorState', device: segments[1] ?? '' };
    }
    case 'alarms': {
      if (segments.length !== 4 || segments[3] !== 'ack') {
        return { route: 'invalid', code: 'invalid_topic', detail: 'expected alarms/<site>/<alarm id>/ack' };
      }
      const problem = badSegment(segments.slice(1), ['site', 'alarm id']);
      if (problem) return { route: 'invalid', code: 'invalid_topic', detail: problem };
      return { route: 'alarmAck', site: segments[1] ?? '', alarmId: segments[2] ?? '' };
    }
    case 'zones': {
      if (segments.length !== 4 || segments[3] !== 'armed') {
        return { route: 'invalid', code: 'invalid_topic', detail: 'expected zones/<site>/<zone>/armed' };
      }
      const problem = badSegment(segments.slice(1), ['site', 'zone']);
      if (problem) return { route: 'invalid', code: 'invalid_topic', detail: problem };
      return { route: 'zoneArmed', site: segments[1] ?? '', zone: segments[2] ?? '' };
    }
    case 'commands':
    case 'alerts':
    case 'gateway':
      return { route: 'reserved' };
    default:
      return { route: 'invalid', code: 'unknown_topic', detail: `topic root ${JSON.stringify(root)} is not one of sensors/, devices/, zones/, alarms/` };
  }
}
