import type { DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat } from '../config/settings.js';
import { printable } from '../core/terminal-text.js';
import { LogDestination } from './log-destination.js';

/** `auto`: readable lines on a terminal, JSON (one object a line) for anything else: files, journald, a collector. */
export function usesPretty(format: LogFormat, isTTY = process.stdout.isTTY === true): boolean {
  return format === 'pretty' || (format === 'auto' && isTTY);
}

/**
 * Where the logs go: stdout as JSON, or, for people, pino-pretty lines such as
 * `17:02:11.402 ERROR: GW_ERR_LISTEN: MQTT_PORT=1883 on 127.0.0.1: EADDRINUSE`, with the
 * component and the GW_ERR code in front of the message and the other fields after it on the
 * same line. Written at once to the terminal (a fatal line is on screen before the process exits),
 * through the same destination as JSON: a terminal that cannot be written never blocks the exit.
 */
export function logDestination(format: LogFormat, isTTY = process.stdout.isTTY === true): DestinationStream | undefined {
  if (!usesPretty(format, isTTY)) return undefined;
  return pretty({
    sync: true,
    destination: new LogDestination(1),
    colorize: isTTY && !process.env['NO_COLOR'],
    translateTime: 'SYS:HH:MM:ss.l',
    singleLine: true,
    // pid: pino-pretty would put a logged pid (influxd's) in the line's header, as if it were the gateway's.
    ignore: 'pid,hostname,service,component,code',
    messageFormat: terminalMessage,
  });
}

/**
 * A log line's message as the terminal shows it: the component and the GW_ERR code in front, and
 * what devices put in it (a device id, a topic) with its control characters escaped, one line.
 * (The other fields are printed as JSON, which escapes C0 controls.)
 */
export function terminalMessage(log: Record<string, unknown>, messageKey: string): string {
  const raw = log[messageKey];
  const msg = typeof raw === 'string' ? raw : JSON.stringify(raw ?? '');
  const code = typeof log['code'] === 'string' && !msg.includes(log['code']) ? `${log['code']}: ` : '';
  const component = typeof log['component'] === 'string' ? `[${log['component']}] ` : '';
  return printable(`${component}${code}${msg}`);
}
