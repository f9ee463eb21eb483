/** CPU time of the processes in a run, to say which one was the bottleneck. */
import { readFileSync } from 'node:fs';

/** Seconds of CPU (user + system) a process has used, from /proc (Linux); NaN when unreadable. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').at(-1)!.trim().split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts measuring; `stop(wallSeconds)` gives each process's share of one core over the run,
 * `seconds()` the CPU seconds each used since the start (read once, at the first call).
 */
export function cpuMeter(pids: Readonly<Record<string, number | undefined>>): { stop(wallSeconds: number): Record<string, number>; seconds(): Record<string, number> } {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  let used: Record<string, number> | undefined;
  const seconds = () => (used ??= Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) - before[k]!])));
  return {
    stop(wall) {
      return Object.fromEntries(Object.entries(seconds()).map(([k, s]) => [k, Math.round((100 * s) / wall)]));
    },
    seconds,
  };
}
