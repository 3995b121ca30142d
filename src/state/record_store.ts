// Records of pods and containers, one JSON file per object, written
// atomically before a change is acknowledged, reloaded at start-up.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { removeTree, writeWholeFile } from '../native/index.js';
import { syncDir, writeFileAtomic } from '../storage/atomic_file.js';

/** How long a record may keep updateAround's mark on disk before it is rewritten without it. */
const unmarkDelayMs = 200;

export class RecordStore<T extends { id: string }> {
  private readonly records = new Map<string, T>();
  /**
   * Writes to one record are serialised, so an update always applies to the
   * latest record, never a stale copy; writes to different records overlap.
   */
  private readonly writes = new Map<string, Promise<unknown>>();
  /**
   * Records whose file carries the mark of an updateAround that succeeded,
   * with the record it committed: the delayed rewrite is for that record
   * only. Any write of the record, or a later updateAround's marked write,
   * takes the entry away.
   */
  private readonly unmarkPending = new Map<string, T>();
  /** Records whose directory was made by an unflushed write: its name in `dir` is not on disk for sure yet. */
  private readonly dirUnflushed = new Set<string>();

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
      if (record && record.id === id) {
        this.records.set(id, record);
        await this.removeStrayTemporaries(id);
      } else {
        this.log.warn({ dir: join(this.dir, id) }, 'removing a record directory without a readable record');
        await removeTree(join(this.dir, id));
      }
    }
  }

  /** What a crash between writing a record's new file and renaming it into place left behind. */
  private async removeStrayTemporaries(id: string): Promise<void> {
    const dir = join(this.dir, id);
    const stray = (await readdir(dir)).filter((name) => name.startsWith(`${this.fileName}.tmp-`));
    await Promise.all(stray.map((name) => unlink(join(dir, name)).catch(() => undefined)));
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
   * Persists a new record without flushing it, then makes it visible: it
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
      if (!current) return undefined;
      const next = change(current);
      // An unchanged record is not written again.
      return next === current ? current : this.write(next);
    });
  }

  /**
   * Runs `step` while the changed record is written and flushed, so that no
   * write is left for after it: the record on disk is `marked(change(record))`,
   * which a restart must resolve (the mark says the step's outcome is
   * unknown). Once the step succeeds the change takes effect in memory at
   * once and the unmarked record replaces the marked one in the background.
   * If the record changed meanwhile, `change` is applied to the latest one and
   * written before this resolves. A failed step puts the record back on disk.
   * Resolves with the step's result and the record as it now is.
   */
  async updateAround<R>(id: string, step: () => Promise<R>, change: (record: T) => T, marked: (record: T) => T): Promise<{ result: R; record: T | undefined }> {
    const base = this.records.get(id);
    const next = base && change(base);
    // Not for a record deleted meanwhile: the write would bring its directory back.
    const prospect = next
      ? this.lock(id, async () => {
          if (!this.records.has(id)) return;
          await this.writeFile(marked(next), true);
          // The file is now this step's: an earlier step's pending rewrite would undo it.
          this.unmarkPending.delete(id);
        })
      : Promise.resolve();
    const [ran, wrote] = await Promise.allSettled([step(), prospect]);
    if (ran.status === 'rejected') {
      await this.lock(id, async () => {
        const current = this.records.get(id);
        if (current) await this.writeFile(current, true);
      }).catch((err: unknown) => this.log.warn({ id, err }, 'cannot put a record back after a failed step'));
      throw ran.reason;
    }
    if (wrote.status === 'rejected') throw wrote.reason;
    // In the lock: a write queued meanwhile (an exit recorded, say) lands in memory only when it is done.
    return this.lock(id, async () => {
      const current = this.records.get(id);
      if (current === undefined) return { result: ran.value, record: undefined };
      if (current === base && next !== undefined) {
        this.records.set(id, next);
        this.unmarkSoon(id, next);
        return { result: ran.value, record: next };
      }
      // Changed meanwhile: the change applies to the latest record.
      const changed = change(current);
      return { result: ran.value, record: changed === current ? current : await this.write(changed) };
    });
  }

  /**
   * Rewrites a marked record without its mark, a little later: until then a
   * restart resolves the mark the same way, and a write of the record
   * meanwhile (the start that follows a create, say) makes this one moot.
   */
  private unmarkSoon(id: string, committed: T): void {
    this.unmarkPending.set(id, committed);
    setTimeout(() => {
      void this.lock(id, async () => {
        if (this.unmarkPending.get(id) === committed && this.records.get(id) === committed) await this.write(committed);
      }).catch((err: unknown) => this.log.warn({ id, err }, 'cannot rewrite a record without its mark'));
    }, unmarkDelayMs).unref();
  }

  private fileOf(id: string): string {
    return join(this.dir, id, this.fileName);
  }

  private async write(record: T, flush = true): Promise<T> {
    await this.writeFile(record, flush);
    this.records.set(record.id, record);
    this.unmarkPending.delete(record.id);
    return record;
  }

  /** The record's file, not the record in memory. */
  private async writeFile(record: T, flush: boolean): Promise<void> {
    const data = JSON.stringify(record);
    // A known record's directory exists already: it was made by its first write or found at open.
    if (this.records.has(record.id)) {
      if (!flush) throw new Error(`record ${record.id} exists: only a new record is written without flushing`);
      await writeFileAtomic(this.fileOf(record.id), data);
      // The first flushed write of a record made unflushed: its directory's name must last too.
      if (this.dirUnflushed.delete(record.id)) await syncDir(this.dir);
      return;
    }
    // A new record has no old content to keep: a crash can only leave it torn, which open() drops.
    await writeWholeFile(this.fileOf(record.id), data, { parentMode: 0o700, durable: flush });
    if (!flush) this.dirUnflushed.add(record.id);
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
      this.unmarkPending.delete(id);
      this.dirUnflushed.delete(id);
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
