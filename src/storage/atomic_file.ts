import { open } from 'node:fs/promises';
import { writeWholeFile } from '../native/index.js';

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the new
 * content, never a torn file: write a sibling, flush it, rename, flush the dir.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  return writeWholeFile(path, data, { mode, replace: true, durable: true });
}

/**
 * Replaces `path` by a rename, without flushing: a reader (or a crash of the
 * daemon) sees the old file or the whole new one, never a torn one; a power
 * loss may lose it. For files under the runroot, which a reboot clears.
 */
export async function replaceFile(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  return writeWholeFile(path, data, { mode, replace: true });
}

/** Makes a rename or create in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
