import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/settings.js';

export type { Logger };

/** Structured JSON logs; secrets never reach them. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'iot-gateway' },
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token', 'authorization'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
