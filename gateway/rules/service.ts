import type { Logger } from 'pino';
import type { Publisher } from '../broker/broker.js';
import type { EventBus } from '../bus.js';
import type { Clock } from '../clock.js';
import type { ReadingEvent } from '../events.js';
import type { Metrics } from '../http/metrics.js';
import type { Journal } from '../storage/journal.js';
import { alertPoint, commandPoint } from '../storage/points.js';
import { ActionDispatcher, type Outcome } from './actions.js';
import { RulesEngine } from './engine.js';
import { RuleLoader } from './loader.js';
import type { RuleDefinition } from './pack.js';
import { ZoneState } from './state.js';

export interface RulesServiceOptions {
  readonly bus: EventBus;
  readonly publisher: Publisher;
  readonly journal: Journal;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly rulesDir: string;
  /** Where armed zones are remembered across restarts. */
  readonly armedFile?: string;
}

/**
 * The rules feature: keeps the zone state from current readings, runs each reading through the
 * rules of its kind, and publishes, stores and announces the commands and alerts that result.
 */
export class RulesService {
  readonly state: ZoneState;
  readonly loader: RuleLoader;
  private engine: RulesEngine;
  private readonly dispatcher: ActionDispatcher;
  private chain: Promise<void> = Promise.resolve();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly o: RulesServiceOptions) {
    this.state = new ZoneState(o.armedFile);
    this.engine = new RulesEngine(this.state, []);
    this.dispatcher = new ActionDispatcher(this.state, o.clock);
    this.loader = new RuleLoader({
      dir: o.rulesDir,
      log: o.log.child({ component: 'rules' }),
      onChange: (rules) => this.use(rules),
      onResult: (result) => o.metrics.ruleReloads.inc({ result }),
    });
  }

  async start(): Promise<void> {
    await this.state.load();
    await this.loader.start();
    this.unsubscribe.push(
      this.o.bus.on('reading', (r) => this.onReading(r)),
      this.o.bus.on('zoneArmed', (z) => {
        this.o.log.info({ eventId: z.id, site: z.site, zone: z.zone, armed: z.armed }, z.armed ? 'zone armed' : 'zone disarmed');
        return this.state.setArmed(z.site, z.zone, z.armed);
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe) off();
    await this.loader.stop();
    await this.chain;
  }

  /** Resolves when every reading seen so far has been through the rules. */
  idle(): Promise<void> {
    return this.chain;
  }

  actuatorState(site: string, zone: string, actuator: string): string | undefined {
    return this.dispatcher.actuatorState(site, zone, actuator);
  }

  private use(rules: readonly RuleDefinition[]): void {
    this.engine = new RulesEngine(this.state, rules);
    this.o.log.info({ rules: rules.length }, 'rules in force');
  }

  private onReading(reading: ReadingEvent): void {
    this.state.update(reading);
    if (this.engine.rulesFor(reading.kind) === 0) return;
    this.chain = this.chain.then(() => this.evaluate(reading));
  }

  private async evaluate(reading: ReadingEvent): Promise<void> {
    const { metrics, log } = this.o;
    try {
      const firings = await this.engine.evaluate(reading);
      if (firings.length === 0) return;
      const { outcomes, suppressed } = this.dispatcher.dispatch(reading, firings);
      for (const f of firings) metrics.ruleFirings.inc({ rule: f.rule.name });
      for (const s of suppressed) {
        if (s.kind === 'already-in-state') metrics.commandsSuppressed.inc({ actuator: s.target.split('/')[2] ?? '' });
      }
      for (const outcome of outcomes) this.emit(outcome);
    } catch (err) {
      metrics.ruleErrors.inc();
      log.error({ err, eventId: reading.id, source: reading.source }, 'rule evaluation failed');
    }
  }

  private emit(outcome: Outcome): void {
    const { publisher, journal, metrics, bus, log } = this.o;
    const payload = JSON.stringify(outcome.cloudEvent);
    const ids = { eventId: outcome.id, correlationId: outcome.cloudEvent.correlationid, rule: outcome.rule };
    // Commands are few and must be recorded even with the spool full.
    journal.append(outcome.kind === 'command' ? commandPoint(outcome) : alertPoint(outcome), true);
    if (outcome.kind === 'command') {
      metrics.commands.inc({ actuator: outcome.actuator });
      bus.emit('command', outcome);
      log.info({ ...ids, topic: outcome.topic, data: outcome.cloudEvent.data }, 'command');
    } else {
      metrics.alerts.inc({ severity: outcome.severity });
      bus.emit('alert', outcome);
      log.warn({ ...ids, topic: outcome.topic, message: outcome.cloudEvent.data.message }, 'alert');
    }
    publisher.publish(outcome.topic, payload, 1).catch((err: unknown) => log.error({ err, ...ids }, 'could not publish'));
  }
}
