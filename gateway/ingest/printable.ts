import { isUtf8 } from 'node:buffer';

/** How much of a bad payload a dead letter keeps. */
export const DEAD_LETTER_PAYLOAD_CHARS = 4096;
/** A payload kept whole (to be redriven) fits in one InfluxDB 1.x string field (64 KiB). */
export const WHOLE_PAYLOAD_BYTES = 60_000;

/** A payload as a dead letter keeps it: UTF-8 text, else base64; at most `chars`, saying how long it was. */
export function printable(payload: Buffer, chars: number): string {
  if (isUtf8(payload)) {
    const text = payload.toString('utf8');
    return text.length > chars ? `${text.slice(0, chars)}… (${payload.length} bytes in all)` : text;
  }
  const shown = payload.subarray(0, chars / 2);
  return `base64:${shown.toString('base64')}${shown.length < payload.length ? `… (${payload.length} bytes in all)` : ''}`;
}
