// The OCI runtime driver: one per runtime handler. Containers are created
// under conmon (which holds their stdio, writes the CRI log and the exit
// file); every other operation runs the runtime binary directly, the way
// CRI-O drives runc and crun:
//
//   create   conmon ... -r <runtime> --runtime-arg --root=<root> ...
//            (held at its start pipe while the bundle is still being made)
//   start    <runtime> --root <root> [--systemd-cgroup] start <id>
//   kill     <runtime> --root <root> [--systemd-cgroup] kill [--all] <id> <signo>
//   state    <runtime> --root <root> [--systemd-cgroup] state <id>
//   delete   <runtime> --root <root> [--systemd-cgroup] delete [--force] <id>
//   update   <runtime> --root <root> update --resources - <id>   (JSON on stdin)
//
// Exits come from conmon's exit files (ExitWatcher), log reopening and
// terminal resizes go through conmon's ctl FIFO.

import { watch } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import type { ResolvedRuntimeHandler } from '../runtime_handlers.js';
import { signalName, signalNumber } from '../spec/signals.js';
import type { OciResources } from '../spec/types.js';
import { invalidArgument } from '../../server/rpc.js';
import { bundleCgroupDir } from '../../cgroups/bundle_cgroup.js';
import { createFileInRoot } from '../../native/index.js';
import { runCommand } from '../../process/command.js';
import { readPidFile } from '../../process/pid_file.js';
import {
  attachSocketPath,
  conmonCreateArgs,
  conmonLogLevel,
  conmonPidFile,
  runtimeEnvironment,
} from './conmon_args.js';
import { conmonComplaints, ConmonStartError, spawnConmon } from './conmon_spawn.js';
import { ctlLine, ctlMessage, writeCtl } from './ctl.js';
import { assembleLines, parseCriLog } from './cri_log.js';
import { isRuntimeError, RuntimeError, runtimeMessage, saysNotFound } from './errors.js';
import { ExitWatcher, readExitFile, type ExitStatus } from './exit_watcher.js';
import { cgroupOomKills, oomFileExists } from './oom.js';
import { reportedPid } from './sync_pipe.js';

export type CgroupManager = 'cgroupfs' | 'systemd';

export interface OciRuntimeOptions {
  handler: ResolvedRuntimeHandler;
  cgroupManager: CgroupManager;
  /** conmon --exit-dir: one file per exited container. */
  exitsDir: string;
  /** conmon --socket-dir-path: `<dir>/<id>` links to the bundle, which holds `attach`. */
  attachSocketDir: string;
  log: Logger;
  /** The daemon's watcher of exitsDir; without one, stop() watches for itself while it waits. */
  exitWatcher?: ExitWatcher;
  /** Bound on create (CRI-O's container_create_timeout, 240 s by default). */
  createTimeoutMs?: number;
  /** Bound on each runtime command (start, kill, state, ...). */
  commandTimeoutMs?: number;
  /** How long stop() keeps SIGKILLing a container that does not die. */
  killTimeoutMs?: number;
  /** conmon --log-level; default: the logger's level. */
  monitorLogLevel?: string;
}

export interface CreateContainerOptions {
  id: string;
  /** The bundle: config.json, and conmon's pidfiles, FIFOs and `oom` file. */
  bundle: string;
  /** The CRI log file (the kubelet's path). Its directory must exist: conmon opens the file as it starts. */
  logPath: string;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** conmon -n. */
  name: string;
  /** conmon --persist-dir: also gets `exit` and `oom`. */
  persistDir?: string;
  /** conmon --log-size-max; absent: unlimited. */
  logSizeMax?: number;
  /** Runs while conmon waits to be started, with its pid (e.g. to move it into a cgroup). */
  placeMonitor?: (conmonPid: number) => Promise<void>;
  /**
   * Given while the caller still makes the bundle: conmon then starts at once
   * and loads meanwhile (exec, linking, log file: milliseconds off the
   * critical path), and waits at its start pipe until this resolves. A
   * rejection (or the daemon's death) closes the pipe unwritten: conmon exits
   * without running the runtime, and create rejects with the same error.
   */
  bundleReady?: Promise<void>;
  /**
   * Called once conmon runs, with its pid, before create waits for anything
   * (bundleReady included): work that would slow conmon's start can begin.
   * Always called when create gets that far; create rejects otherwise.
   */
  onMonitorSpawned?: (conmonPid: number) => void;
  /**
   * The id was never used on this runroot before (the daemon's are random), so
   * there are no exit, pid or oom files of an earlier container with it to clear.
   */
  newId?: boolean;
}

export interface CreatedContainer {
  /** The container's init process. */
  pid: number;
  /** The conmon watching it. */
  conmonPid: number;
}

export type ContainerStatus = 'created' | 'running' | 'stopped' | 'paused' | 'unknown';

export interface RuntimeState {
  status: ContainerStatus;
  pid: number;
}

export interface ContainerExit extends ExitStatus {
  oomKilled: boolean;
}

/** What the driver remembers about a container it created (or adopted after a restart). */
export interface ContainerFiles {
  bundle: string;
  logPath: string;
  persistDir?: string;
  conmonPid?: number;
}

const safeId = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const sigkill = 9;
/** After the runtime reports a container stopped, how long conmon may take to write its exit file. */
const exitFileGraceMs = 5000;
/** setTimeout's largest delay: "until the signal fires". */
const forever = 2 ** 31 - 1;

export class OciRuntime {
  readonly name: string;
  private readonly runtimePath: string | undefined;
  private readonly monitorPath: string | undefined;
  private readonly root: string;
  private readonly systemd: boolean;
  private readonly log: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly containers = new Map<string, ContainerFiles>();
  private readonly stopping = new Map<string, { shorten: (deadline: number) => void; done: Promise<void> }>();
  private dirsMade: Promise<void> | undefined;

  constructor(private readonly opts: OciRuntimeOptions) {
    this.name = opts.handler.name;
    this.runtimePath = opts.handler.runtimePath;
    this.monitorPath = opts.handler.monitorPath;
    this.root = opts.handler.runtimeRoot;
    this.systemd = opts.cgroupManager === 'systemd';
    this.log = opts.log.child({ runtime: this.name });
    this.env = runtimeEnvironment(opts.handler.config.monitor_env);
  }

  // ---- create -------------------------------------------------------------

  async create(c: CreateContainerOptions): Promise<CreatedContainer> {
    checkId(c.id);
    for (const [field, path] of [['bundle', c.bundle], ['logPath', c.logPath], ['persistDir', c.persistDir]] as const) {
      if (path !== undefined && !isAbsolute(path)) throw invalidArgument(`${field}: ${JSON.stringify(path)} must be an absolute path`);
    }
    const runtimePath = this.requireRuntime();
    const monitorPath = this.monitorPath;
    if (!monitorPath) {
      throw new RuntimeError('failed', `runtime "${this.name}": monitor ${this.opts.handler.config.monitor_path || '"conmon" in PATH'} not found or not executable`);
    }

    // What conmon needs before it runs (the log file's directory, which it opens as it loads, is the caller's).
    const startable = Promise.all([
      this.ownDirs(),
      ...(c.persistDir ? [mkdir(c.persistDir, { recursive: true, mode: 0o700 })] : []),
      // Leftovers of an earlier container with this id would be taken for this one's.
      ...(c.newId
        ? []
        : [
            join(this.opts.exitsDir, c.id),
            conmonPidFile(c.bundle),
            join(c.bundle, 'pidfile'),
            join(c.bundle, 'oom'),
            ...(c.persistDir ? [join(c.persistDir, 'exit'), join(c.persistDir, 'oom')] : []),
          ].map(removeFile)),
    ]);
    // Awaited before the spawn, or in the start hook while conmon waits to be placed; this only
    // keeps an early failure from going unhandled meanwhile.
    startable.catch(() => undefined);

    const args = conmonCreateArgs({
      id: c.id,
      name: c.name,
      bundle: c.bundle,
      logPath: c.logPath,
      exitsDir: this.opts.exitsDir,
      attachSocketDir: this.opts.attachSocketDir,
      ...(c.persistDir !== undefined ? { persistDir: c.persistDir } : {}),
      runtimePath,
      runtimeRoot: this.root,
      logLevel: this.opts.monitorLogLevel ?? conmonLogLevel(this.opts.log.level),
      systemdCgroup: this.systemd,
      terminal: c.terminal,
      stdin: c.stdin,
      stdinOnce: c.stdinOnce,
      ...(c.logSizeMax !== undefined ? { logSizeMax: c.logSizeMax } : {}),
    });
    const timeoutMs = this.opts.createTimeoutMs ?? 240_000;
    this.log.debug({ id: c.id, monitor: monitorPath, args }, 'starting conmon');

    const placeMonitor = c.placeMonitor;
    // Nothing started yet, so nothing to clean up should this fail (shared dirs: once per driver).
    if (!placeMonitor) await startable;
    let handshake;
    try {
      handshake = await spawnConmon({
        monitorPath,
        args,
        env: this.env,
        cwd: c.bundle,
        pidFile: conmonPidFile(c.bundle),
        timeoutMs,
        // conmon waits at its start pipe for whichever of these is given.
        ...(placeMonitor
          ? {
              beforeStart: async (pid: number) => {
                await placeMonitor(pid);
                await startable;
              },
            }
          : {}),
        ...(c.bundleReady ? { runtimeReady: c.bundleReady } : {}),
        ...(c.onMonitorSpawned ? { onSpawned: c.onMonitorSpawned } : {}),
      });
    } catch (err) {
      if (err instanceof ConmonStartError) throw new RuntimeError('failed', `container create failed: ${err.message}`, '', { cause: err });
      // Stopped before the runtime ran: the log file and attach link conmon made as it set up go.
      await this.cleanupFailedCreate(c, () => undefined);
      throw err;
    }
    const { sync } = handshake;
    const pid = reportedPid(sync);
    if (pid !== undefined) {
      const { conmonPid } = handshake;
      this.containers.set(c.id, {
        bundle: c.bundle,
        logPath: c.logPath,
        ...(c.persistDir !== undefined ? { persistDir: c.persistDir } : {}),
        conmonPid,
      });
      this.log.debug({ id: c.id, pid, conmonPid }, 'container created');
      return { pid, conmonPid };
    }

    // Failed: say why in the runtime's words, then leave nothing behind.
    const runtimeSaid = sync.message?.message ?? '';
    const complaints = conmonComplaints(handshake.output);
    let reason: string;
    let kind: 'failed' | 'timeout' = 'failed';
    if (sync.timedOut) {
      kind = 'timeout';
      reason = `timed out after ${Math.round(timeoutMs / 1000)} s waiting for conmon to report the container's pid`;
    } else if (runtimeSaid.trim() !== '') {
      reason = runtimeMessage(runtimeSaid);
    } else if (complaints !== '') {
      reason = complaints;
    } else if (sync.message) {
      reason = `conmon reported pid ${sync.message.value}`;
    } else {
      // conmon 2.1.6 sends nothing when the runtime fails without a word on stderr.
      const e = handshake.exit;
      const how = e && (e.signal || e.code !== 0) ? ` (conmon exited with ${e.signal ?? `status ${e.code}`})` : '';
      const logged = await logTail(c.logPath);
      reason = `conmon closed the sync pipe without reporting the container's pid${how}; the runtime (or conmon) failed without an error message`;
      if (logged !== '') reason += `; the container log ends with: ${logged}`;
    }
    const details = [runtimeSaid.trim() !== '' ? runtimeSaid : sync.raw, complaints].filter((s) => s.trim() !== '').join('\n');
    this.log.warn({ id: c.id, reason, details }, 'container create failed');
    await this.cleanupFailedCreate(c, handshake.killSpawned);
    throw new RuntimeError(kind, `container create failed: ${reason}`, details);
  }

  private async cleanupFailedCreate(c: CreateContainerOptions, killSpawned: () => void): Promise<void> {
    killSpawned();
    await this.abandon(c.id, c.bundle);
    // As CRI-O does: a failed container leaves no log file and no attach link behind.
    await rm(c.logPath, { force: true }).catch(() => undefined);
    await this.removeAttachLink(c.id, c.bundle);
  }

  /**
   * Undoes a create that may still be under way: the conmon started
   * for it (found by its pidfile in the bundle) is killed before it can
   * finish, then the runtime's container is deleted. For a failed create,
   * and after a restart for one the daemon was killed in the middle of.
   */
  async abandon(id: string, bundle: string): Promise<void> {
    checkId(id);
    const conmonPid = await readPidFile(conmonPidFile(bundle));
    if (conmonPid !== undefined && (await this.monitorAlive(conmonPid))) {
      try {
        process.kill(conmonPid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await this.runtime('delete', id, ['delete', '--force', id]).catch((err: unknown) => {
      if (!isRuntimeError(err, 'not-found')) this.log.warn({ err, id }, 'deleting an abandoned container');
    });
  }

  /** The directories this driver shares between containers, made once (a failure is retried next time). */
  private ownDirs(): Promise<void> {
    this.dirsMade ??= Promise.all([
      mkdir(this.opts.exitsDir, { recursive: true, mode: 0o700 }),
      mkdir(this.opts.attachSocketDir, { recursive: true, mode: 0o700 }),
      mkdir(this.root, { recursive: true, mode: 0o700 }),
    ]).then(
      () => undefined,
      (err: unknown) => {
        this.dirsMade = undefined;
        throw err;
      },
    );
    return this.dirsMade;
  }

  // ---- runtime commands ---------------------------------------------------

  async start(id: string): Promise<void> {
    checkId(id);
    await this.runtime('start', id, ['start', id]);
  }

  /** Sends a signal (a name like "SIGTERM"/"TERM" or a number) to the container's init, or to all its processes. */
  async kill(id: string, signal: string | number, all = false): Promise<void> {
    checkId(id);
    const n = parseSignal(signal);
    await this.runtime('kill', id, ['kill', ...(all ? ['--all'] : []), id, String(n)]);
  }

  /** The runtime's view; undefined when the runtime does not know the container. */
  async state(id: string): Promise<RuntimeState | undefined> {
    checkId(id);
    let out: string;
    try {
      out = await this.runtime('state', id, ['state', id]);
    } catch (err) {
      if (isRuntimeError(err, 'not-found')) return undefined;
      throw err;
    }
    let parsed: { status?: unknown; pid?: unknown };
    try {
      parsed = JSON.parse(out) as typeof parsed;
    } catch (err) {
      throw new RuntimeError('failed', `${this.name} state ${id}: output is not JSON`, out, { cause: err });
    }
    return { status: mapStatus(parsed.status), pid: typeof parsed.pid === 'number' ? parsed.pid : 0 };
  }

  /** Deletes the runtime's container; one the runtime does not know is already deleted. */
  async delete(id: string, force = false): Promise<void> {
    checkId(id);
    try {
      await this.runtime('delete', id, ['delete', ...(force ? ['--force'] : []), id]);
    } catch (err) {
      if (!isRuntimeError(err, 'not-found')) throw err;
    }
    const files = this.containers.get(id);
    await this.removeAttachLink(id, files?.bundle);
  }

  /** Applies new resources (OCI LinuxResources) to a running or created container. */
  async update(id: string, resources: OciResources): Promise<void> {
    checkId(id);
    await this.runtime('update', id, ['update', '--resources', '-', id], { input: JSON.stringify(resources), systemdFlag: false });
  }

  /**
   * The command line of `<runtime> --root R [--log L --log-format json] exec
   * --process P --pid-file F <id>`, for the caller to spawn with the stdio
   * it needs (ExecSync and streaming exec). The runtime stays the process's
   * parent and exits with its status; the exec'd process leads its own
   * session, so the pid file's pid is also its process group.
   */
  execCommand(id: string, opts: { processFile: string; pidFile: string; logFile?: string }): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
    checkId(id);
    const logArgs = opts.logFile !== undefined ? ['--log', opts.logFile, '--log-format', 'json'] : [];
    return {
      file: this.requireRuntime(),
      args: ['--root', this.root, ...logArgs, 'exec', '--process', opts.processFile, '--pid-file', opts.pidFile, id],
      env: this.env,
    };
  }

  // ---- stop -----------------------------------------------------------------

  /**
   * Sends the stop signal, waits up to `timeoutSeconds` for the exit, then
   * SIGKILLs until the container is gone; 0 kills at once. A container that
   * is already stopped or unknown is fine. A second stop while one runs joins
   * it, and can only shorten its deadline (as the kubelet expects).
   */
  stop(id: string, timeoutSeconds: number, stopSignal: string | number = 'SIGTERM'): Promise<void> {
    checkId(id);
    const signal = parseSignal(stopSignal);
    const deadline = Date.now() + Math.max(0, timeoutSeconds) * 1000;
    const running = this.stopping.get(id);
    if (running) {
      running.shorten(deadline);
      return running.done;
    }
    const grace = new Deadline(deadline);
    const done = this.stopLoop(id, signal, grace).finally(() => {
      grace.dispose();
      this.stopping.delete(id);
    });
    this.stopping.set(id, { shorten: (d) => grace.shorten(d), done });
    return done;
  }

  private async stopLoop(id: string, signal: number, grace: Deadline): Promise<void> {
    const { watcher, close } = await this.watcher();
    try {
      const state = await this.state(id);
      if (!state || state.status === 'stopped') return await this.settleExit(id, watcher);
      if (state.status === 'paused') {
        await this.runtime('resume', id, ['resume', id]).catch((err: unknown) => this.log.warn({ err, id }, 'resuming a paused container before stopping it'));
      }
      if (signal !== sigkill && !grace.signal.aborted) {
        const sent = await this.kill(id, signal).then(
          () => true,
          (err: unknown) => {
            if (isRuntimeError(err, 'not-found')) return false;
            throw err;
          },
        );
        if (!sent) return await this.settleExit(id, watcher);
        if (await watcher.waitFor(id, forever, grace.signal)) return;
        this.log.info({ id, signal: signalName(signal) }, 'container did not stop in time; killing it');
      }
      const killUntil = Date.now() + (this.opts.killTimeoutMs ?? 60_000);
      for (let backoff = 100; ; backoff = Math.min(backoff * 2, 5000)) {
        await this.kill(id, sigkill).catch((err: unknown) => {
          if (!isRuntimeError(err, 'not-found')) this.log.warn({ err, id }, 'SIGKILL failed');
        });
        if (await watcher.waitFor(id, backoff)) return;
        const now = await this.state(id);
        if (!now || now.status === 'stopped') return await this.settleExit(id, watcher);
        if (Date.now() > killUntil) {
          throw new RuntimeError('timeout', `container ${id} is still ${now.status} after SIGKILL for ${Math.round((this.opts.killTimeoutMs ?? 60_000) / 1000)} s`);
        }
      }
    } finally {
      close();
    }
  }

  /** The runtime says stopped: give a living conmon a moment to write the exit file. */
  private async settleExit(id: string, watcher: ExitWatcher): Promise<void> {
    const conmonPid = this.containers.get(id)?.conmonPid;
    if (conmonPid !== undefined && !(await this.monitorAlive(conmonPid))) return;
    await watcher.waitFor(id, exitFileGraceMs);
  }

  private async watcher(): Promise<{ watcher: ExitWatcher; close: () => void }> {
    if (this.opts.exitWatcher?.watching) return { watcher: this.opts.exitWatcher, close: () => undefined };
    const watcher = await ExitWatcher.open(this.opts.exitsDir, this.log);
    return { watcher, close: () => watcher.close() };
  }

  // ---- exits, logs, terminals -------------------------------------------------

  /** The exit conmon recorded; undefined while the container has not exited (or conmon died first). */
  async readExit(id: string): Promise<ContainerExit | undefined> {
    checkId(id);
    const files = this.containers.get(id);
    const status =
      (await readExitFile(join(this.opts.exitsDir, id))) ?? (files?.persistDir ? await readExitFile(join(files.persistDir, 'exit')) : undefined);
    if (!status) return undefined;
    return { ...status, oomKilled: files ? await this.oomKilled(files, status.exitCode) : false };
  }

  private async oomKilled(files: ContainerFiles, exitCode: number): Promise<boolean> {
    if (await oomFileExists(files.bundle, files.persistDir)) return true;
    // conmon may miss an OOM kill that races the exit; the cgroup remembers it until deletion.
    if (exitCode !== 128 + sigkill) return false;
    const dir = await bundleCgroupDir(files.bundle, this.opts.cgroupManager);
    if (!dir) return false;
    return ((await cgroupOomKills(dir)) ?? 0) > 0;
  }

  /**
   * Asks conmon to reopen the CRI log (after the kubelet renamed it away for
   * rotation) and waits until the file at the log path is back.
   *
   * conmon opens `<log>.tmp` (O_CREAT|O_TRUNC, following a symlink there) and
   * renames it over the log: whatever is at that name is first replaced by a
   * new empty file of ours, so conmon neither truncates nor writes through a
   * link someone left there.
   */
  async reopenLog(id: string, timeoutMs = 10_000): Promise<void> {
    checkId(id);
    const files = this.files(id);
    const dir = dirname(files.logPath);
    const name = basename(files.logPath);
    await unlink(join(dir, `${name}.tmp`)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await createFileInRoot(dir, `${name}.tmp`).catch((err: unknown) => {
      throw new RuntimeError('failed', `container ${id}: cannot prepare ${name}.tmp for conmon's reopen: ${(err as Error).message}`, '', { cause: err });
    });
    const cancel = new AbortController();
    const appeared = new Promise<boolean>((resolve) => {
      let watcher: ReturnType<typeof watch> | undefined;
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        watcher?.close();
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      cancel.signal.addEventListener('abort', () => finish(false), { once: true });
      try {
        watcher = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename === name) finish(true);
        });
        watcher.on('error', () => finish(false));
      } catch {
        finish(false);
      }
    });
    try {
      await writeCtl(files.bundle, id, ctlLine(ctlMessage.reopenLog, 0, 0));
    } catch (err) {
      cancel.abort();
      throw err;
    }
    const seen = await appeared;
    if (!seen && !(await exists(files.logPath))) {
      throw new RuntimeError('timeout', `container ${id}: conmon did not reopen ${files.logPath} within ${Math.round(timeoutMs / 1000)} s`);
    }
  }

  /** Resizes the container's terminal (a container created with terminal: true). */
  async resize(id: string, width: number, height: number): Promise<void> {
    checkId(id);
    for (const [field, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw invalidArgument(`${field}: ${v} is not a terminal size`);
    }
    await writeCtl(this.files(id).bundle, id, ctlLine(ctlMessage.resize, height, width));
  }

  /** conmon's attach socket (SOCK_SEQPACKET) for the container. */
  attachSocketPath(id: string): string {
    checkId(id);
    return attachSocketPath(this.opts.attachSocketDir, id);
  }

  /** The conmon watching the container, as recorded at create. */
  conmonPid(id: string): number | undefined {
    return this.containers.get(id)?.conmonPid;
  }

  /** Takes over a container created earlier (by a previous daemon): reads conmon's pidfile when not given. */
  async adopt(id: string, files: ContainerFiles): Promise<void> {
    checkId(id);
    const conmonPid = files.conmonPid ?? (await readPidFile(conmonPidFile(files.bundle)));
    this.containers.set(id, { ...files, ...(conmonPid !== undefined ? { conmonPid } : {}) });
  }

  /** Forgets a removed container: its exit file and attach link go too. */
  async forget(id: string): Promise<void> {
    checkId(id);
    const files = this.containers.get(id);
    this.containers.delete(id);
    await rm(join(this.opts.exitsDir, id), { force: true });
    await this.removeAttachLink(id, files?.bundle);
  }

  // ---- helpers --------------------------------------------------------------------

  /** Whether the conmon with this pid still runs (a zombie or another program does not count). */
  monitorAlive(pid: number): Promise<boolean> {
    return isLiveProcess(pid, basename(this.monitorPath ?? 'conmon'));
  }

  private files(id: string): ContainerFiles {
    const files = this.containers.get(id);
    if (!files) throw new RuntimeError('not-found', `container ${id} is not known to runtime "${this.name}"`);
    return files;
  }

  private requireRuntime(): string {
    if (!this.runtimePath) {
      throw new RuntimeError(
        'failed',
        `runtime "${this.name}": binary ${this.opts.handler.config.runtime_path || `"${this.name}" in PATH`} not found or not executable`,
      );
    }
    return this.runtimePath;
  }

  /** Runs `<runtime> --root R [--systemd-cgroup] <args>`; its stdout, or a RuntimeError in its words. */
  private async runtime(verb: string, id: string, args: string[], opts: { input?: string; systemdFlag?: boolean } = {}): Promise<string> {
    const runtimePath = this.requireRuntime();
    const full = ['--root', this.root, ...(this.systemd && opts.systemdFlag !== false ? ['--systemd-cgroup'] : []), ...args];
    const res = await runCommand(runtimePath, full, {
      env: this.env,
      timeoutMs: this.opts.commandTimeoutMs ?? 120_000,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    }).catch((err: unknown) => {
      throw new RuntimeError('failed', `${this.name} ${verb} ${id}: cannot run ${runtimePath}: ${(err as Error).message}`, '', { cause: err });
    });
    if (res.code === 0) return res.stdout;
    const said = runtimeMessage(res.stderr) || res.stdout.trim() || (res.signal ? `killed by ${res.signal}` : `exit status ${res.code}`);
    if (res.timedOut) {
      throw new RuntimeError('timeout', `${this.name} ${verb} ${id}: no answer within ${Math.round((this.opts.commandTimeoutMs ?? 120_000) / 1000)} s`, res.stderr);
    }
    const notFound = saysNotFound(res.stderr) || !(await exists(join(this.root, id)));
    throw new RuntimeError(notFound ? 'not-found' : 'failed', `${this.name} ${verb} ${id}: ${said}`, res.stderr);
  }

  /** conmon 2.1.6 leaves `<attach dir>/<id>` behind (it unlinks the socket, not the link). */
  private async removeAttachLink(id: string, bundle: string | undefined): Promise<void> {
    const link = dirname(attachSocketPath(this.opts.attachSocketDir, id));
    try {
      const st = await lstat(link);
      if (!st.isSymbolicLink()) return;
      if (bundle !== undefined && (await readlink(link)) !== bundle) return;
      await unlink(link);
    } catch {
      // absent
    }
  }
}

/** A deadline that can be brought forward; its signal aborts when it passes. */
class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  constructor(private at: number) {
    this.arm();
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  shorten(at: number): void {
    if (at >= this.at || this.controller.signal.aborted) return;
    this.at = at;
    this.arm();
  }
  dispose(): void {
    clearTimeout(this.timer);
  }
  private arm(): void {
    clearTimeout(this.timer);
    const ms = this.at - Date.now();
    if (ms <= 0) this.controller.abort();
    else this.timer = setTimeout(() => this.controller.abort(), Math.min(ms, forever));
  }
}

function checkId(id: string): void {
  if (!safeId.test(id)) throw invalidArgument(`container id ${JSON.stringify(id)} is not valid`);
}

function parseSignal(signal: string | number): number {
  const n = typeof signal === 'number' ? (signalName(signal) ? signal : undefined) : signalNumber(signal);
  if (n === undefined) throw invalidArgument(`unknown signal ${JSON.stringify(signal)}`);
  return n;
}

function mapStatus(status: unknown): ContainerStatus {
  switch (status) {
    case 'creating':
    case 'created':
      return 'created';
    case 'running':
      return 'running';
    case 'pausing':
    case 'paused':
      return 'paused';
    case 'stopped':
      return 'stopped';
    default:
      return 'unknown';
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The last bytes of a (failed container's) CRI log, as plain text. */
async function logTail(path: string, max = 2048): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    const lines = assembleLines(parseCriLog(text.slice(-max)).entries).map((l) => l.text);
    return lines.join('\n').trim();
  } catch {
    return '';
  }
}


/** True when `pid` is a live (not zombie) process whose command name is `comm` (the kernel keeps 15 characters). */
export async function isLiveProcess(pid: number, comm: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const m = /^\d+ \((.*)\) (\S)/s.exec(stat);
    return m !== null && m[1] === comm.slice(0, 15) && m[2] !== 'Z' && m[2] !== 'X';
  } catch {
    return false;
  }
}

/** Removes a file that may not exist: one unlink, where rm() first stats it. */
async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
