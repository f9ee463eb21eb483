/** Per-test cleanup: `defer` what to undo; it runs after each test, last first, errors ignored. */
import { afterEach } from 'vitest';
import type { GatewayProcess } from './process.js';

export function useCleanup(): { defer: (fn: () => Promise<unknown>) => void; track: (p: GatewayProcess) => GatewayProcess } {
  const steps: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step().catch(() => undefined);
  });
  return {
    defer: (fn) => void steps.push(fn),
    /** Kills the gateway process (SIGKILL) after the test if it is still running. */
    track: (p) => {
      steps.push(async () => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        await p.exited;
      });
      return p;
    },
  };
}
