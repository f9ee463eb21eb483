/**
 * The one retry delay of the gateway: exponential from `baseMs`, capped at `maxMs`, with jitter
 * (between half and all of the ceiling) so that many retries do not fall in step. Attempt 0 is
 * the first retry.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, jitter = true): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return jitter ? ceiling / 2 + Math.random() * (ceiling / 2) : ceiling;
}
