/**
 * A topic segment of the contract (site, zone, device, kind, actuator): `[A-Za-z0-9_-]{1,64}`.
 * One pattern, in the three forms its users need.
 */
export const SEGMENT_SOURCE = '^[A-Za-z0-9_-]{1,64}$';
export const SEGMENT = new RegExp(SEGMENT_SOURCE);
/** How the pattern reads in an error message. */
export const SEGMENT_HINT = '[A-Za-z0-9_-]{1,64}';

export function isSegment(text: string): boolean {
  return SEGMENT.test(text);
}
