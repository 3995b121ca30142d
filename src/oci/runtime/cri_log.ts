// The CRI container log format conmon writes (and the kubelet reads):
//
//   <RFC 3339 nano timestamp> <stdout|stderr> <tags> <content>\n
//
// The first tag is F for a full line or P for a partial one (a chunk the
// process wrote without a newline; the next entries of the same stream
// continue it). conmon 2.1.6 writes local time with a numeric offset
// ("2024-01-01T00:00:00.123456789+00:00"); "Z" is accepted too.

import { readFile } from 'node:fs/promises';

export type LogStream = 'stdout' | 'stderr';

export interface CriLogEntry {
  /** The timestamp as written (nanosecond precision kept). */
  timestamp: string;
  time: Date;
  stream: LogStream;
  partial: boolean;
  content: string;
}

const entryPattern = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (stdout|stderr) ([^ ]*) ?(.*)$/s;

/** One log line (without its newline) → its entry; undefined when malformed. */
export function parseCriLogLine(line: string): CriLogEntry | undefined {
  const m = entryPattern.exec(line);
  if (!m) return undefined;
  const [, timestamp = '', stream, tags = '', content = ''] = m;
  const tag = tags.split(':')[0];
  if (tag !== 'F' && tag !== 'P') return undefined;
  const time = new Date(timestamp);
  if (Number.isNaN(time.getTime())) return undefined;
  return { timestamp, time, stream: stream as LogStream, partial: tag === 'P', content };
}

export interface ParsedCriLog {
  entries: CriLogEntry[];
  /** Lines that are not in the format (a healthy log has none). */
  malformed: string[];
}

export function parseCriLog(text: string): ParsedCriLog {
  const entries: CriLogEntry[] = [];
  const malformed: string[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const entry = parseCriLogLine(line);
    if (entry) entries.push(entry);
    else malformed.push(line);
  }
  return { entries, malformed };
}

export interface LogLine {
  stream: LogStream;
  text: string;
  /** The last piece was partial: the process has not ended this line (yet). */
  partial: boolean;
  /** Time of the line's first piece. */
  time: Date;
}

/** Joins partial entries with their continuation, per stream, in order of completion. */
export function assembleLines(entries: readonly CriLogEntry[]): LogLine[] {
  const out: LogLine[] = [];
  const open = new Map<LogStream, { text: string; time: Date }>();
  for (const e of entries) {
    const pending = open.get(e.stream);
    const text = (pending?.text ?? '') + e.content;
    const time = pending?.time ?? e.time;
    if (e.partial) {
      open.set(e.stream, { text, time });
    } else {
      open.delete(e.stream);
      out.push({ stream: e.stream, text, partial: false, time });
    }
  }
  for (const [stream, { text, time }] of open) out.push({ stream, text, partial: true, time });
  return out;
}

export async function readCriLog(path: string): Promise<ParsedCriLog> {
  return parseCriLog(await readFile(path, 'utf8'));
}
