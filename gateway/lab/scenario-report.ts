import { styleText } from 'node:util';
import { formatOffset } from '../rules/duration.js';
import { describeHeldBack, describeLost } from '../rules/held-back.js';
import type { Expectation } from './scenario.js';
import { lostFor, type Actual, type ScenarioResult } from './scenario-run.js';
import { describeWhy } from './why-format.js';

type Style = 'green' | 'red' | 'yellow' | 'dim' | 'bold';

/**
 * A scenario's result for people: one line when it passed; when it failed, a timeline of what
 * was expected against what happened, marked like a diff:
 *   ✓ as expected   - expected, did not happen   + happened, not expected   ! expected NOT to happen, happened
 */
export function formatResult(r: ScenarioResult, color = false): string {
  const paint = (style: Style, text: string) => (color ? styleText(style, text) : text);
  const title = `${r.scenario.file} › ${r.scenario.name}`;
  // What a minimum on/off time held back, the same line the gateway logs, at scenario times.
  const held = r.held.map((h) => paint('dim', `    held back at ${formatOffset(h.at)}: ${describeHeldBack(h, formatOffset)}`));
  if (r.passed) return [`${paint('green', '✓')} ${title}`, ...held].join('\n');
  const lines = [`${paint('red', '✗')} ${paint('bold', title)}  ${paint('dim', `(${r.scenario.where.replace(/ \(.*$/, '')})`)}`];
  const local = (where: string) => where.slice(r.scenario.where.length + 1);
  if (r.error !== undefined) {
    for (const l of r.error.split('\n')) lines.push(`    ${paint('red', l)}`);
    return lines.join('\n');
  }
  lines.push(paint('dim', `    ✓ as expected   - expected, did not happen   + happened, not expected${r.scenario.strict ? '' : ' (not strict: allowed)'}   ! expected not to happen, happened`));
  const rows: { at: number; text: string[] }[] = [];
  for (const { actual } of r.matched) rows.push({ at: actual.at, text: [`    ✓ ${actualLine(actual)}`] });
  for (const { expectation, nearest, why } of r.missing) {
    const text = [paint('red', `    - ${expectationLine(expectation)}`)];
    // Its rule fired, and another rule's command to the actuator came first: say which and why.
    const lost = lostFor(expectation, r.lost);
    for (const l of lost.slice(0, 3)) text.push(paint('yellow', `        ${l.rule} fired at ${formatOffset(l.at)} and ${describeLost(l)}`));
    if (lost.length > 3) text.push(paint('dim', `        … and lost ${lost.length - 3} more times`));
    if (nearest || lost.length === 0) text.push(paint('dim', nearest ? `        nearest that happened: ${actualLine(nearest)}` : '        nothing of that kind happened'));
    // Why its rules did not send it: each judged at its time, condition by condition.
    if (why) for (const line of describeWhy(expectation, why)) text.push(paint('yellow', `        ${line}`));
    text.push(paint('dim', `        (${local(expectation.where)})`));
    rows.push({ at: expectation.at ?? expectation.after ?? expectation.before ?? Number.POSITIVE_INFINITY, text });
  }
  for (const a of r.unexpected) rows.push({ at: a.at, text: [paint(r.scenario.strict ? 'red' : 'dim', `    + ${actualLine(a)}`)] });
  for (const { expectation, actual } of r.forbidden) {
    rows.push({ at: actual.at, text: [paint('red', `    ! ${actualLine(actual)}`), paint('dim', `        forbidden by ${local(expectation.where)}: ${expectationLine(expectation)}`)] });
  }
  rows.sort((a, b) => a.at - b.at);
  for (const row of rows) lines.push(...row.text);
  const steps = r.scenario.steps;
  lines.push(paint('dim', `    readings and publishes (${steps.length}):`));
  for (const s of steps.slice(0, 20)) lines.push(paint('dim', `      ${formatOffset(s.at).padEnd(9)} ${s.topic} ${JSON.stringify(s.value)}${s.id ? ` (${s.id})` : ''}`));
  if (steps.length > 20) lines.push(paint('dim', `      … ${steps.length - 20} more, up to ${formatOffset(steps.at(-1)!.at)}`));
  lines.push(...held);
  if (r.history.length > 0) lines.push(paint('dim', `    history (older than the device's latest reading: stored, not ruled): ${r.history.map((s) => s.id).join(', ')}`));
  return lines.join('\n');
}

function payloadText(type: Expectation['type'], data: unknown, message: string | undefined): string {
  if (type === 'command') return data === undefined ? '' : ` ${JSON.stringify(data)}`;
  if (type === 'alert') return message === undefined ? '' : ` ${JSON.stringify(message)}`;
  return message === undefined ? '' : ` (${message})`;
}

function expectationLine(e: Expectation): string {
  const when =
    e.at !== undefined
      ? formatOffset(e.at)
      : e.after !== undefined && e.before !== undefined
        ? `${formatOffset(e.after)}–${formatOffset(e.before)}`
        : e.after !== undefined
          ? `after ${formatOffset(e.after)}`
          : e.before !== undefined
            ? `before ${formatOffset(e.before)}`
            : 'any time';
  return `${when.padEnd(9)} ${e.type} ${e.target}${payloadText(e.type, e.data, e.message)}${e.rule ? ` by ${e.rule}` : ''}`;
}

function actualLine(a: Actual): string {
  const cause = a.cause ? `  ← ${a.cause.id} (${JSON.stringify(a.cause.value)} on ${a.cause.topic} at ${formatOffset(a.cause.at)})` : '';
  return `${formatOffset(a.at).padEnd(9)} ${a.type} ${a.target}${payloadText(a.type, a.data, a.message)}${a.rule ? ` by ${a.rule}` : ''}${cause}`;
}

/** The closing summary line, e.g. "17 passed, 1 failed". */
export function formatSummary(results: readonly ScenarioResult[]): string {
  const failed = results.filter((r) => !r.passed).length;
  return `${results.length - failed} passed, ${failed} failed`;
}
