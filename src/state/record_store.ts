// Records of pods and containers, one JSON file per object, written
// atomically before a change is acknowledged, reloaded at start-up.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { removeTree } from '../native/index.js';
import { replaceFileUnflushed, stageFileAtomic, writeFileAtomic, type StagedFile } from '../storage/atomic_file.js';

export class RecordStore<T extends { id: string }> {
  private readonly records = new Map<string, T>();
  /**
   * Writes to one record are serialised, so an update always applies to the
   * latest record, never a stale copy; writes to different records overlap.
   */
  private readonly writes = new Map<string, Promise<unknown>>();

  constructor(
    readonly dir: string,
    private readonly fileName: string,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const id of await readdir(this.dir)) {
      // Missing, empty (an unflushed write cut by a power loss) or torn: not a record.
      const record = await readFile(join(this.dir, id, this.fileName), 'utf8')
        .then((text) => JSON.parse(text) as T)
        .catch(() => undefined);
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
    return this.lock(record.id, () => this.write(record));
  }

  /**
   * Persists the record without flushing it, then makes it visible: it
   * survives a crash of the daemon (which is what undoing a half-made object
   * after a restart needs) but maybe not a power loss, after which a record
   * left empty is dropped at open. Anything acknowledged to a client is
   * written with put() or the update methods.
   */
  putUnflushed(record: T): Promise<T> {
    return this.lock(record.id, () => this.write(record, false));
  }

  /** Applies `change` to the record as it is when the write runs. */
  update(id: string, change: (record: T) => T): Promise<T | undefined> {
    return this.lock(id, async () => {
      const current = this.records.get(id);
      return current ? this.write(change(current)) : undefined;
    });
  }

  /**
   * Runs `step` and, once it succeeds, records `change` of the record: the new
   * record is written and flushed while `step` runs, so only a rename and a
   * directory flush follow it. If the record changed meanwhile, `change` is
   * applied to the latest one and written afresh. A failed `step` records
   * nothing. Resolves with the step's result and the record as written.
   */
  async updateAfter<R>(id: string, step: () => Promise<R>, change: (record: T) => T): Promise<{ result: R; record: T | undefined }> {
    const base = this.records.get(id);
    const next = base && change(base);
    const staged: Promise<StagedFile | undefined> = next ? stageFileAtomic(this.fileOf(id), JSON.stringify(next)).catch(() => undefined) : Promise.resolve(undefined);
    let result: R;
    try {
      result = await step();
    } catch (err) {
      await (await staged)?.discard();
      throw err;
    }
    return this.lock(id, async () => {
      const file = await staged;
      const current = this.records.get(id);
      if (current !== undefined && current === base && next !== undefined && file) {
        await file.commit();
        this.records.set(id, next);
        return { result, record: next };
      }
      // Changed meanwhile, gone, or the early write failed (a fresh write reports why).
      await file?.discard();
      return { result, record: current ? await this.write(change(current)) : undefined };
    });
  }

  private fileOf(id: string): string {
    return join(this.dir, id, this.fileName);
  }

  private async write(record: T, flush = true): Promise<T> {
    // A known record's directory exists already: it was made by its first write or found at open.
    if (!this.records.has(record.id)) await mkdir(join(this.dir, record.id), { recursive: true, mode: 0o700 });
    await (flush ? writeFileAtomic : replaceFileUnflushed)(this.fileOf(record.id), JSON.stringify(record));
    this.records.set(record.id, record);
    return record;
  }

  /** Runs `section` after the sections queued for the same record. */
  private lock<R>(id: string, section: () => Promise<R>): Promise<R> {
    const result = (this.writes.get(id) ?? Promise.resolve()).then(section, section);
    const tail = result.catch(() => undefined);
    this.writes.set(id, tail);
    void tail.then(() => {
      if (this.writes.get(id) === tail) this.writes.delete(id);
    });
    return result;
  }

  delete(id: string): Promise<void> {
    return this.lock(id, async () => {
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
