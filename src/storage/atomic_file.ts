import { randomBytes } from 'node:crypto';
import { open, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the new
 * content, never a torn file: write a sibling, fsync it, rename, fsync the dir.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await (await stageFileAtomic(path, data, mode)).commit();
}

/**
 * Replaces `path` by a rename, without flushing anything: readers and a
 * restarted daemon see the old or the new content, never a torn file, but a
 * power loss may take the new content (or leave the file empty).
 */
export async function replaceFileUnflushed(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** New content written and flushed beside its file, not yet in its place. */
export interface StagedFile {
  /** Renames it into place and makes the rename durable. */
  commit(): Promise<void>;
  /** Drops it; the file keeps its old content. */
  discard(): Promise<void>;
}

/**
 * The first half of writeFileAtomic: the sibling is written and flushed, so
 * the costly flush can overlap other work and commit() is only the rename.
 * A crash before commit leaves a stray `<name>.tmp-*` sibling and the old file.
 */
export async function stageFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<StagedFile> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const file = await open(tmp, 'wx', mode);
  try {
    await file.writeFile(data);
    // The data (and the size that reads it back); the name is made durable by the dir fsync at commit.
    await file.datasync();
  } catch (err) {
    await file.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await file.close();
  return {
    commit: async () => {
      await rename(tmp, path).catch(async (err: unknown) => {
        await unlink(tmp).catch(() => undefined);
        throw err;
      });
      await syncDir(dirname(path));
    },
    discard: () => unlink(tmp).catch(() => undefined),
  };
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
