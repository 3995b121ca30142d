import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/schema.js';

/** JSON lines to stderr; stdout stays free for command output. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
}
