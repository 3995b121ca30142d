import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isNativeError, lockFile } from '../native/index.js';

export class AlreadyRunningError extends Error {
  override name = 'AlreadyRunningError';
}

/**
 * One daemon per root, per runroot and per socket: each gets an flock held
 * for the life of the process, so a crashed daemon never leaves a stale lock.
 */
export async function lockDaemonState(places: { root: string; runroot: string; listen: string }): Promise<void> {
  const locks: [string, string][] = [
    [join(places.root, 'skiff.lock'), `root ${places.root}`],
    [join(places.runroot, 'skiff.lock'), `runroot ${places.runroot}`],
    [`${places.listen}.lock`, `socket ${places.listen}`],
  ];
  const seen = new Set<string>();
  for (const [path, what] of locks) {
    // Two flocks on one file from one process would conflict with each other.
    if (seen.has(path)) continue;
    seen.add(path);
    await mkdir(dirname(path), { recursive: true, mode: 0o711 });
    try {
      await lockFile(path);
    } catch (err) {
      if (isNativeError(err) && (err.code === 'EWOULDBLOCK' || err.code === 'EAGAIN')) {
        throw new AlreadyRunningError(`another skiff daemon is using ${what} (lock ${path} is held)`);
      }
      throw err;
    }
  }
}
