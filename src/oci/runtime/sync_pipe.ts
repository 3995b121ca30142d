// conmon's sync pipe (_OCI_SYNCPIPE): one JSON object per line, written as
// `{"<key>": <int>}` or `{"<key>": <int>, "message": "<text>"}` where the key
// is "pid" on create, "exit_code" for a legacy exec and "data" with
// --api-version. conmon 2.1.6 escapes the message only partly (0x1f and
// bytes that are not UTF-8 pass through raw), so a line that is not strict
// JSON is repaired before it is given up on.

import type { Readable } from 'node:stream';

export type SyncKey = 'pid' | 'exit_code' | 'data';

export interface SyncMessage {
  key: SyncKey;
  value: number;
  message?: string;
}

const keys: readonly SyncKey[] = ['pid', 'data', 'exit_code'];

/** One sync-pipe line → its message; undefined when it is not one. */
export function parseSyncMessage(line: string): SyncMessage | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    // Raw control characters inside the string: escape them and retry.
    const repaired = text.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    try {
      obj = JSON.parse(repaired);
    } catch {
      return undefined;
    }
  }
  if (typeof obj !== 'object' || obj === null) return undefined;
  const record = obj as Record<string, unknown>;
  for (const key of keys) {
    const value = record[key];
    if (typeof value !== 'number' || !Number.isInteger(value)) continue;
    const message = record['message'];
    return typeof message === 'string' ? { key, value, message } : { key, value };
  }
  return undefined;
}

export interface SyncRead {
  /** The first complete line's message, if it parsed. */
  message?: SyncMessage;
  /** What arrived, for error reports (bounded). */
  raw: string;
  /** The pipe closed before a complete line arrived. */
  eof: boolean;
  timedOut: boolean;
}

const maxLine = 1024 * 1024;

/** The container's pid when conmon reported a successful create (any key but exit_code, as CRI-O reads it). */
export function reportedPid(sync: SyncRead): number | undefined {
  const m = sync.message;
  return m && m.key !== 'exit_code' && m.value > 0 ? m.value : undefined;
}

/**
 * Reads the first line from the sync pipe: resolves at the first newline,
 * at EOF, or after `timeoutMs`. Never rejects.
 */
export function readSyncLine(stream: Readable, timeoutMs: number): Promise<SyncRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: Omit<SyncRead, 'raw'>, raw: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onEnd);
      resolve({ ...result, raw });
    };
    const text = (): string => Buffer.concat(chunks).toString('utf8');
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const all = text();
      const nl = all.indexOf('\n');
      if (nl >= 0) {
        const line = all.slice(0, nl);
        const message = parseSyncMessage(line);
        finish({ ...(message ? { message } : {}), eof: false, timedOut: false }, line);
      } else if (size > maxLine) {
        finish({ eof: false, timedOut: false }, all.slice(0, 4096));
      }
    };
    const onEnd = (): void => {
      const rest = text();
      const message = parseSyncMessage(rest);
      finish({ ...(message ? { message } : {}), eof: true, timedOut: false }, rest);
    };
    const timer = setTimeout(() => finish({ eof: false, timedOut: true }, text()), timeoutMs);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onEnd);
  });
}
