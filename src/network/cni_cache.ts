// The attachment cache: one JSON file per pod holding everything DEL and CHECK
// need (the network config as it was at ADD, capability args, CNI_ARGS, netns,
// interface, the final result), so they work after a restart and after the
// config directory changed.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../storage/atomic_file.js';

export const cacheFormatVersion = 1;

export interface CachedNetwork {
  name: string;
  cniVersion: string;
  /** The config file it came from, for humans; DEL never reads it again. */
  file: string;
  plugins: Record<string, unknown>[];
  disableCheck: boolean;
}

export interface CniAttachmentRecord {
  version: typeof cacheFormatVersion;
  podId: string;
  pod: { name: string; namespace: string; uid: string };
  ifName: string;
  netns: string;
  /** The CNI_ARGS string every command of this attachment gets. */
  cniArgs: string;
  network: CachedNetwork;
  /** Every capability argument of the request; each plugin is given those it declares. */
  runtimeConfig: Record<string, unknown>;
  /**
   * `adding`: written before ADD started, so a crash during ADD still leaves
   * what DEL needs. `ready`: ADD succeeded, `result` is the final result.
   * `failed`: ADD failed and so did its rollback; DEL still owes a clean-up.
   */
  state: 'adding' | 'ready' | 'failed';
  result?: unknown;
  createdAt: string;
}

export class CniCache {
  private ready: Promise<unknown> | undefined;

  constructor(readonly dir: string) {}

  path(podId: string): string {
    return join(this.dir, `${podId}.json`);
  }

  async read(podId: string): Promise<CniAttachmentRecord | undefined> {
    const file = this.path(podId);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new Error(`CNI cache file ${file} is not JSON: ${(err as Error).message}`);
    }
    const problem = recordProblem(doc, podId);
    if (problem) throw new Error(`CNI cache file ${file} is invalid: ${problem}`);
    return doc as CniAttachmentRecord;
  }

  async write(record: CniAttachmentRecord): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.ready.catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    await writeFileAtomic(this.path(record.podId), JSON.stringify(record));
  }

  async remove(podId: string): Promise<void> {
    try {
      await unlink(this.path(podId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await syncDir(this.dir);
  }

  /** Pod ids with a cache entry. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
  }
}

function recordProblem(doc: unknown, podId: string): string | undefined {
  if (typeof doc !== 'object' || doc === null) return 'not an object';
  const r = doc as Record<string, unknown>;
  if (r.version !== cacheFormatVersion) return `unknown format version ${JSON.stringify(r.version)}`;
  if (r.podId !== podId) return `it belongs to pod ${JSON.stringify(r.podId)}`;
  for (const key of ['ifName', 'netns', 'cniArgs', 'state'] as const) {
    if (typeof r[key] !== 'string') return `"${key}" is missing`;
  }
  const n = r.network as Record<string, unknown> | undefined;
  if (typeof n !== 'object' || n === null || typeof n.name !== 'string' || typeof n.cniVersion !== 'string' || !Array.isArray(n.plugins)) {
    return '"network" is missing or incomplete';
  }
  if (typeof r.runtimeConfig !== 'object' || r.runtimeConfig === null) return '"runtimeConfig" is missing';
  return undefined;
}
