// Records of pods and containers, one JSON file per object, written
// atomically before a change is acknowledged, reloaded at start-up.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { removeTree } from '../native/index.js';
import { writeFileAtomic } from '../storage/atomic_file.js';
import { AsyncMutex } from '../storage/keyed_once.js';

export class RecordStore<T extends { id: string }> {
  private readonly records = new Map<string, T>();
  /** Writes are serialised: an update always applies to the latest record, never a stale copy. */
  private readonly writes = new AsyncMutex();

  constructor(
    readonly dir: string,
    private readonly fileName: string,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const id of await readdir(this.dir)) {
      const record = await readFile(join(this.dir, id, this.fileName), 'utf8').then(
        (text) => JSON.parse(text) as T,
        () => undefined,
      );
      if (record && record.id === id) this.records.set(id, record);
      else {
        this.log.warn({ dir: join(this.dir, id) }, 'removing a record directory without a readable record');
        await removeTree(join(this.dir, id));
      }
    }
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  list(): T[] {
    return [...this.records.values()];
  }

  /** The directory that holds this object's persistent files. */
  pathOf(id: string): string {
    return join(this.dir, id);
  }

  /** Persists the record, then makes it visible. */
  put(record: T): Promise<T> {
    return this.writes.lock(() => this.write(record));
  }

  /** Applies `change` to the record as it is when the write runs. */
  update(id: string, change: (record: T) => T): Promise<T | undefined> {
    return this.writes.lock(async () => {
      const current = this.records.get(id);
      return current ? this.write(change(current)) : undefined;
    });
  }

  private async write(record: T): Promise<T> {
    await mkdir(join(this.dir, record.id), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir, record.id, this.fileName), JSON.stringify(record));
    this.records.set(record.id, record);
    return record;
  }

  delete(id: string): Promise<void> {
    return this.writes.lock(async () => {
      this.records.delete(id);
      await removeTree(join(this.dir, id)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    });
  }

  /** Finds by full id or a unique prefix (as crictl allows). */
  resolve(idOrPrefix: string): T | undefined {
    const exact = this.records.get(idOrPrefix);
    if (exact || idOrPrefix.length === 0) return exact;
    const matches = [...this.records.values()].filter((r) => r.id.startsWith(idOrPrefix));
    return matches.length === 1 ? matches[0] : undefined;
  }
}
