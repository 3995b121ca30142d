// Container exits, as conmon reports them: when the container's init
// process is gone and its output drained, conmon writes `<exit-dir>/<id>`
// holding the exit status as decimal text without a newline (written to a
// temporary `<id>.XXXXXX` and renamed into place, so it appears whole). One
// inotify watch (fs.watch) on the exit directory serves the whole daemon;
// nothing polls while no container exits.

import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

export interface ExitStatus {
  /** The status conmon recorded: the exit code, or 128 + signal; -1 when conmon could not tell. */
  exitCode: number;
  /** When conmon wrote the file (its mtime). */
  finishedAt: Date;
}

/** Reads an exit file; undefined when it is absent or not (yet) a number. */
export async function readExitFile(path: string): Promise<ExitStatus | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const exitCode = parseExitStatus(text);
    if (exitCode === undefined || !st.isFile()) return undefined;
    return { exitCode, finishedAt: st.mtime };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function parseExitStatus(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d{1,10}$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** glib's temporary name for an atomic write: the target plus ".XXXXXX". */
const tempName = /\.[A-Za-z0-9]{6}$/;

export class ExitWatcher extends EventEmitter {
  private watcher: FSWatcher | undefined;
  /** Per name, the file identity last reported, so a rename and a change event report once. */
  private readonly reported = new Map<string, string>();
  private readonly checking = new Map<string, boolean>();

  private constructor(
    readonly dir: string,
    private readonly log?: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Creates the directory when missing and starts watching it. */
  static async open(dir: string, log?: Logger): Promise<ExitWatcher> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const w = new ExitWatcher(dir, log);
    w.watcher = watch(dir, { persistent: false }, (_event, filename) => {
      if (typeof filename === 'string' && filename !== '') w.schedule(filename);
    });
    w.watcher.on('error', (err) => {
      w.log?.error({ err, dir }, 'exit directory watch failed; exits are no longer reported');
      w.close();
    });
    return w;
  }

  override on(event: 'exit', listener: (id: string, status: ExitStatus) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off(event: 'exit', listener: (id: string, status: ExitStatus) => void): this;
  override off(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  get watching(): boolean {
    return this.watcher !== undefined;
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Exit files present now (for a daemon catching up after a restart). */
  async existing(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.'));
  }

  exitFile(id: string): string {
    return join(this.dir, id);
  }

  /**
   * Resolves with the container's exit once its exit file exists (at once if
   * it already does); undefined after `timeoutMs` or when `signal` aborts.
   */
  waitFor(id: string, timeoutMs: number, signal?: AbortSignal): Promise<ExitStatus | undefined> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (status: ExitStatus | undefined, err?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.off('exit', onExit);
        if (err !== undefined) reject(err);
        else resolve(status);
      };
      const onExit = (name: string, status: ExitStatus): void => {
        if (name === id) finish(status);
      };
      const onAbort = (): void => finish(undefined);
      const timer = setTimeout(onAbort, Math.max(0, timeoutMs));
      if (signal?.aborted) return finish(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.on('exit', onExit);
      // Listening first, then looking: an exit in between is not missed.
      readExitFile(this.exitFile(id)).then(
        (status) => status && finish(status),
        (err: unknown) => finish(undefined, err),
      );
    });
  }

  private schedule(name: string): void {
    if (this.checking.has(name)) {
      this.checking.set(name, true);
      return;
    }
    this.checking.set(name, false);
    void this.check(name)
      .catch((err: unknown) => this.log?.warn({ err, name }, 'reading an exit file failed'))
      .finally(() => {
        const again = this.checking.get(name);
        this.checking.delete(name);
        if (again) this.schedule(name);
      });
  }

  private async check(name: string): Promise<void> {
    const path = join(this.dir, name);
    let identity: string;
    try {
      const st = await stat(path, { bigint: true });
      if (!st.isFile()) return;
      identity = `${st.ino}:${st.mtimeNs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.reported.delete(name);
      return;
    }
    if (this.reported.get(name) === identity) return;
    if (tempName.test(name)) {
      // Maybe conmon's temporary file about to be renamed: it is real only if it stays.
      await new Promise((r) => setTimeout(r, 50));
      if (!(await stat(path).then(() => true, () => false))) return;
    }
    const status = await readExitFile(path);
    if (!status) return;
    this.reported.set(name, identity);
    this.emit('exit', name, status);
  }
}
