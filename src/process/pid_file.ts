import { readFile } from 'node:fs/promises';

/**
 * The pid in a pid file (conmon's, the runtime's), or undefined when the file
 * is missing or holds anything but a pid. Never 1: no process we started is
 * the host's init, and a group kill of -1 would reach every process.
 */
export async function readPidFile(path: string): Promise<number | undefined> {
  const text = (await readFile(path, 'utf8').catch(() => '')).trim();
  const pid = Number(text);
  return /^\d+$/.test(text) && pid > 1 ? pid : undefined;
}
