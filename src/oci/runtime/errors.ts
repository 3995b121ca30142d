// Errors of the runtime driver. Each is a gRPC status (the server layer can
// throw it as is) that also keeps what the runtime or conmon said, so logs
// and tests can show the runtime's own words.

import { status } from '@grpc/grpc-js';
import { RpcError } from '../../server/rpc.js';

export type RuntimeErrorKind =
  /** The runtime does not know the container, or its process is gone. */
  | 'not-found'
  /** A bounded wait ran out. */
  | 'timeout'
  /** The runtime or conmon refused or failed. */
  | 'failed';

const codes: Record<RuntimeErrorKind, status> = {
  'not-found': status.NOT_FOUND,
  timeout: status.DEADLINE_EXCEEDED,
  failed: status.UNKNOWN,
};

export class RuntimeError extends RpcError {
  constructor(
    readonly kind: RuntimeErrorKind,
    message: string,
    /** The runtime's or conmon's raw output, when there was some. */
    readonly details = '',
    options?: { cause?: unknown },
  ) {
    super(codes[kind], message, options);
  }
}

export const isRuntimeError = (err: unknown, kind?: RuntimeErrorKind): err is RuntimeError =>
  err instanceof RuntimeError && (kind === undefined || err.kind === kind);

/**
 * What the runtime says when it does not know a container or the process is
 * already gone: runc ("container does not exist", "container not running",
 * "invalid process"), crun ("no such process", or its missing status file).
 */
export function saysNotFound(stderr: string): boolean {
  return /container does not exist|container not running|invalid process|no such process|does not exist|status`?: No such file or directory/i.test(stderr);
}

/**
 * The runtime's stderr made readable. runc (and other Go runtimes) log with
 * logrus text lines `time="..." level=error msg="..."`: the error-level
 * messages are what a user needs. Anything else is returned trimmed, as is.
 */
export function runtimeMessage(stderr: string): string {
  const text = stderr.trim();
  if (text === '') return '';
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    const level = /(?:^|\s)level=("?)(\w+)\1(?:\s|$)/.exec(line)?.[2];
    if (level !== 'error' && level !== 'fatal' && level !== 'panic') continue;
    const msg = logfmtValue(line, 'msg');
    if (msg !== undefined && msg !== '') messages.push(msg);
  }
  return messages.length > 0 ? messages.join('; ') : text;
}

/** The value of `key=` in a logfmt line: a bare word or a Go-quoted string. */
function logfmtValue(line: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${key}=("(?:[^"\\\\]|\\\\.)*"|\\S*)`).exec(line);
  const raw = m?.[1];
  if (raw === undefined) return undefined;
  if (!raw.startsWith('"')) return raw;
  try {
    return JSON.parse(raw) as string;
  } catch {
    // Go escapes (\x00, \u{...}) JSON does not know: strip the quotes only.
    return raw.slice(1, -1).replace(/\\"/g, '"');
  }
}
