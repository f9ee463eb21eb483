import type { Logger } from 'pino';

/** A part of the gateway with a lifetime: started once, stopped once. */
export interface Component {
  stop(): void | Promise<void>;
}

/**
 * Components in the order they started, stopped in reverse, each stop on its own: one that
 * fails is logged and the rest still stop (zigbee2mqtt's controller does the same), so a
 * failing sink never leaves the journal open or the embedded InfluxDB running.
 */
export class Lifecycle {
  private readonly started: { readonly name: string; readonly component: Component }[] = [];

  constructor(private readonly log: Logger) {}

  /** Records a component that has started (or needs stopping even if its start was partial). */
  add<T extends Component>(name: string, component: T): T {
    this.started.push({ name, component });
    return component;
  }

  /** Stops everything in reverse order; resolves with the names of those whose stop failed. */
  async stopAll(): Promise<string[]> {
    const failed: string[] = [];
    while (this.started.length > 0) {
      const { name, component } = this.started.pop()!;
      try {
        await component.stop();
      } catch (err) {
        failed.push(name);
        this.log.error({ err, component: name }, `could not stop ${name}; stopping the rest`);
      }
    }
    return failed;
  }
}
