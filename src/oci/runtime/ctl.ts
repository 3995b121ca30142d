// conmon's control FIFO `<bundle>/ctl`: text lines "<type> <height> <width>\n",
// type 1 resizes the container's terminal, type 2 reopens the log file.
// conmon keeps the FIFO open for reading (and a writer of its own) while
// it runs; it reads at most 199 bytes at a time and, in 2.1.6, handles two
// lines arriving in one read badly, so each message goes in its own write,
// one at a time per container.

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeError } from './errors.js';

export const ctlMessage = {
  resize: 1,
  reopenLog: 2,
} as const;

export const ctlPath = (bundle: string): string => join(bundle, 'ctl');

export function ctlLine(type: number, height: number, width: number): string {
  return `${type} ${height} ${width}\n`;
}

const queues = new Map<string, Promise<void>>();

/**
 * Writes one control line. The FIFO is opened non-blocking: with no reader
 * (conmon gone) the open fails at once with ENXIO instead of hanging.
 */
export function writeCtl(bundle: string, id: string, line: string): Promise<void> {
  const path = ctlPath(bundle);
  const previous = queues.get(path) ?? Promise.resolve();
  const next = previous.then(() => writeOnce(path, id, line));
  const tail = next.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return next;
}

async function writeOnce(path: string, id: string, line: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENXIO') throw new RuntimeError('not-found', `container ${id}: its conmon is not running (nobody reads ${path})`, '', { cause: err });
    if (code === 'ENOENT') throw new RuntimeError('not-found', `container ${id}: no control FIFO at ${path}`, '', { cause: err });
    throw err;
  }
  try {
    const { bytesWritten } = await handle.write(line);
    if (bytesWritten !== Buffer.byteLength(line)) throw new RuntimeError('failed', `container ${id}: short write to ${path}`);
  } finally {
    await handle.close();
  }
}
