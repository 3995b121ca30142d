import { randomBytes } from 'node:crypto';
import { open, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the new
 * content, never a torn file: write a sibling, fsync it, rename, fsync the dir.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = siblingOf(path);
  try {
    const file = await open(tmp, 'wx', mode);
    try {
      await file.writeFile(data);
      // The data (and the size that reads it back); the name is made durable by the dir fsync.
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Replaces `path` by a rename, without flushing: a reader (or a crash of the
 * daemon) sees the old file or the whole new one, never a torn one; a power
 * loss may lose it. For files under the runroot, which a reboot clears.
 */
export async function replaceFile(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = siblingOf(path);
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

const siblingOf = (path: string): string => `${path}.tmp-${randomBytes(6).toString('hex')}`;

/** Makes a rename or create in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
