// Containers: overlay rootfs from image layers, OCI spec, conmon + runtime.
// Like pods, each step is recorded before it is taken so failures undo cleanly.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { daemonOomScoreAdj } from '../host/oom_score.js';
import { findImage } from '../image/lookup.js';
import { createFileInRoot, isNativeError, mkdirInRoot, overlayMount, overlayUnmount, readFileInRoot, removeTree } from '../native/index.js';
import { ExitWatcher, OciRuntime, type ContainerExit, type CreatedContainer } from '../oci/runtime/index.js';
import { resolveRuntimeHandler } from '../oci/runtime_handlers.js';
import { buildContainerSpec, buildResources, listHostDevices, nodeCgroupHost, statHostDevice } from '../oci/spec/index.js';
import type { ContainerConfig, LinuxContainerResources, PodSandboxConfig } from '../proto/cri.js';
import { podHostname, podPidNamespace, type SandboxRecord } from '../sandbox/pods.js';
import { RpcError } from '../server/rpc.js';
import type { LifecycleEvents } from '../state/events.js';
import type { NameRegistry } from '../state/names.js';
import { replaceFile } from '../storage/atomic_file.js';
import type { RecordStore } from '../state/record_store.js';
import type { ImageStore } from '../storage/image_store.js';
import type { LayerStore } from '../storage/layer_store.js';
import type { ImageFileCache } from './image_files.js';

export type ContainerPhase = 'creating' | 'created' | 'running' | 'exited';

export interface ContainerRecord {
  id: string;
  podId: string;
  name: string;
  phase: ContainerPhase;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  config: ContainerConfig;
  imageId: string;
  imageRef: string;
  runtimeHandler: string;
  logPath: string;
  stopSignal: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** Steps taken, for undo and remove. */
  mounted: boolean;
  runtimeCreated: boolean;
  /**
   * Only on disk: the record was written while the runtime's create or start
   * ran, to keep the write off the critical path, and is rewritten without
   * the mark once it succeeded. At start-up the runtime tells whether it did.
   */
  unconfirmed?: 'create' | 'start';
}

/** CRI-O's default capability set. */
const defaultCapabilities = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'KILL'];

export interface ContainerDeps {
  config: SkiffConfig;
  log: Logger;
  containers: RecordStore<ContainerRecord>;
  sandboxes: RecordStore<SandboxRecord>;
  names: NameRegistry;
  images: ImageStore;
  layers: LayerStore;
  exits: ExitWatcher;
  runtimes: Map<string, OciRuntime>;
  /** Lifecycle events for GetContainerEvents, published once each change is recorded. */
  events?: LifecycleEvents;
  /** Account files of images, read from their first container's rootfs. */
  imageFiles: ImageFileCache;
}

export function containerRunDir(config: SkiffConfig, id: string): string {
  return join(config.runroot, 'containers', id);
}

/** The driver for a handler, created on first use. */
export async function runtimeFor(deps: ContainerDeps, handler: string): Promise<OciRuntime> {
  const existing = deps.runtimes.get(handler);
  if (existing) return existing;
  const resolved = await resolveRuntimeHandler(deps.config, handler);
  if (!resolved) throw new RpcError(status.INVALID_ARGUMENT, `runtime handler "${handler}" is not configured`);
  const runtime = new OciRuntime({
    handler: resolved,
    cgroupManager: deps.config.cgroup_manager,
    exitsDir: deps.exits.dir,
    attachSocketDir: join(deps.config.runroot, 'attach'),
    exitWatcher: deps.exits,
    log: deps.log,
  });
  deps.runtimes.set(handler, runtime);
  return runtime;
}

export async function createContainer(deps: ContainerDeps, podId: string, config: ContainerConfig | null, sandboxConfig: PodSandboxConfig | null): Promise<string> {
  if (!podId) throw new RpcError(status.INVALID_ARGUMENT, 'pod_sandbox_id: required');
  if (!config) throw new RpcError(status.INVALID_ARGUMENT, 'config: required');
  if (!config.metadata?.name) throw new RpcError(status.INVALID_ARGUMENT, 'config.metadata.name: required');
  if (!config.image?.image) throw new RpcError(status.INVALID_ARGUMENT, 'config.image.image: required');
  const pod = deps.sandboxes.resolve(podId);
  if (!pod) throw new RpcError(status.NOT_FOUND, `pod sandbox ${podId} not found`);
  if (pod.state !== 'ready') throw new RpcError(status.FAILED_PRECONDITION, `pod sandbox ${pod.id} is not ready`);
  const image = findImage(deps.images, config.image.image);
  if (!image) throw new RpcError(status.NOT_FOUND, `config.image.image: image "${config.image.image}" not found`);
  const pm = pod.config.metadata!;
  const name = `k8s_${config.metadata.name}_${pm.name}_${pm.namespace}_${pm.uid}_${config.metadata.attempt}`;
  const id = randomBytes(32).toString('hex');
  const holder = deps.names.reserve(name, id);
  if (holder) {
    const existing = deps.containers.get(holder);
    if (existing && existing.phase !== 'creating' && JSON.stringify(existing.config) === JSON.stringify(config)) return existing.id;
    throw new RpcError(status.ALREADY_EXISTS, `container name "${name}" is reserved by ${holder}`);
  }

  const runDir = containerRunDir(deps.config, id);
  const rootfs = join(runDir, 'rootfs');
  let record: ContainerRecord = {
    id,
    podId: pod.id,
    name,
    phase: 'creating',
    createdAt: Date.now() * 1e6,
    startedAt: 0,
    finishedAt: 0,
    exitCode: 0,
    reason: '',
    message: '',
    config,
    imageId: image.id,
    imageRef: image.repoDigests[0] ?? image.id,
    runtimeHandler: pod.runtimeHandler,
    logPath: '',
    stopSignal: 'SIGTERM',
    user: { uid: 0, gid: 0, additionalGids: [] },
    mounted: false,
    runtimeCreated: false,
  };
  // conmon is started as soon as its paths exist and loads while the bundle is made, then
  // waits at its start pipe; its runtime runs once `bundleReady` resolves, and none runs if
  // it rejects or the daemon dies first. A restart undoes a half-made container (killing
  // its conmon first).
  const bundleReady = settleable();
  let creating: Promise<CreatedContainer> | undefined;
  let logMade: Promise<string> | undefined;
  try {
    const logDirectory = pod.config.logDirectory;
    checkLogPath(logDirectory, config.logPath);
    const runDirMade = mkdir(runDir, { recursive: true });
    logMade = makeLogPath(logDirectory, config.logPath, runDir);
    // Resolves once conmon runs. conmon's load is the longest branch, so the bundle's work
    // (mount, spec, config.json) waits for its spawn rather than hold up the spawn's thread.
    const launched = Promise.all([logMade, runtimeFor(deps, pod.runtimeHandler), runDirMade]).then(
      ([logPath, runtime]) =>
        new Promise<string>((resolve, reject) => {
          creating = runtime.create({
            id,
            bundle: runDir,
            logPath,
            terminal: config.tty,
            stdin: config.stdin,
            stdinOnce: config.stdinOnce,
            name,
            bundleReady: bundleReady.promise,
            newId: true,
            onMonitorSpawned: () => resolve(logPath),
          });
          // A failure before the spawn; later ones are awaited once the bundle is ready, or on undo.
          creating.catch(reject);
        }),
    );
    // The record comes before the mount and config.json (each step is undone from it after a
    // crash); what only reads is done meanwhile. One write covers the steps up to the runtime's
    // create (undo tolerates a rootfs never mounted and a runtime container never created). It
    // is not flushed: a daemon crash keeps it, and after a power loss the mount and the
    // runtime's state are gone with the runroot (a tmpfs such as /run). The record becomes
    // durable with the 'created' write, before CreateContainer returns.
    const dataDir = deps.containers.pathOf(id);
    const recorded = deps.containers.putUnflushed({ ...record, mounted: true, runtimeCreated: true }).then((r) => (record = r));
    // The record's write makes dataDir; the launch, the run directory. The mount makes the
    // empty upper, work and rootfs directories (undo removes them with those two).
    const mountable = Promise.all([recorded, launched]);
    const mounted = mountable.then(() =>
      overlayMount({
        lowerdirs: [...image.layers].reverse().map((chainId) => deps.layers.diffDir(chainId)),
        upperdir: join(dataDir, 'upper'),
        workdir: join(dataDir, 'work'),
        target: rootfs,
        makeDirs: true,
      }),
    );
    // The spec reads the rootfs only for the image's /etc/passwd and /etc/group, the same in
    // every container of the image: after its first container, the spec is built while the
    // rootfs mounts. It waits for the mount to be issued, the longer branch.
    const specified = Promise.all([deps.images.configText(image.id).then((text) => JSON.parse(text) as Record<string, unknown>), daemonOomScoreAdj(), mountable]).then(
      ([imageConfig, oomScoreAdj]) =>
        buildContainerSpec({
          id,
          config,
          sandboxConfig: sandboxConfig ?? pod.config,
          image: { config: imageConfig },
          rootfs,
          sandbox: {
            id: pod.id,
            namespaces: { network: pod.namespaces.net, ipc: pod.namespaces.ipc, uts: pod.namespaces.uts, pid: podPidNamespace(pod) },
            hostNetwork: pod.hostNetwork,
            hostIpc: pod.hostIpc,
            hostPid: pod.hostPid,
            hostname: podHostname(pod.config),
            files: pod.files,
            cgroupParent: pod.cgroupParent,
          },
          cgroupManager: deps.config.cgroup_manager,
          defaultCapabilities,
          ownOomScoreAdj: oomScoreAdj,
          readFileInRoot: (root, path, maxBytes) => deps.imageFiles.read(image.id, path, maxBytes, () => mounted.then(() => readFileInRoot(root, path, maxBytes))),
          statDevice: statHostDevice,
          hostDevices: listHostDevices,
          privilegedWithoutHostDevices: deps.config.runtimes[pod.runtimeHandler]?.privileged_without_host_devices ?? false,
        }),
    );
    // Whole or not at all, and after the record: a record left by a crash must not point at half a spec.
    // (The spec waits for the record and the run directory: see mountable.)
    const written = specified.then((built) => replaceFile(join(runDir, 'config.json'), JSON.stringify(built.spec), 0o644));
    const cwdMade = Promise.all([specified, mounted]).then(([built]) => {
      const cwd = built.spec.process?.cwd;
      // The rootfs itself exists once mounted: no trip to the addon for the usual "/".
      return cwd && cwd !== '/' ? mkdirInRoot(rootfs, cwd, 0o755) : undefined;
    });
    // A failed mount is the error to report, not the spec's failure to read the rootfs.
    const [logPath, , built] = await allSettled([launched, mounted, specified, written, cwdMade, recorded, runDirMade]);
    // The 'created' record is written (and flushed) while conmon and the runtime work, marked on
    // disk as unconfirmed: a restart before the mark is gone asks the runtime whether the create happened.
    const created = await deps.containers.updateAround(
      id,
      () => {
        bundleReady.resolve();
        return creating!;
      },
      (r) => ({ ...r, logPath, stopSignal: built.stopSignal, user: built.user, phase: 'created' }),
      (r) => ({ ...r, unconfirmed: 'create' }),
    );
    if (!created.record) throw new Error('the container record vanished while it was being created');
    record = created.record;
    deps.events?.publish('created', id, pod.id);
    return id;
  } catch (err) {
    bundleReady.reject(err);
    await creating?.catch(() => undefined);
    deps.log.warn({ container: id, err }, 'CreateContainer failed; undoing');
    await undoContainer(deps, record).catch((e: unknown) => deps.log.error({ container: id, err: e }, 'cannot undo a failed container'));
    // As CRI-O does: a failed container leaves no log file (made before conmon, which may never have run).
    await logMade?.then((path) => rm(path, { force: true })).catch(() => undefined);
    await deps.containers.delete(id).catch(() => undefined);
    deps.names.release(name, id);
    if (err instanceof RpcError) throw err;
    throw new RpcError(status.UNKNOWN, `CreateContainer ${name}: ${(err as Error).message}`, { cause: err });
  }
}

export async function startContainer(deps: ContainerDeps, id: string): Promise<void> {
  const record = deps.containers.resolve(id);
  if (!record) throw new RpcError(status.NOT_FOUND, `container ${id} not found`);
  if (record.phase !== 'created') throw new RpcError(status.FAILED_PRECONDITION, `container ${record.id} is ${record.phase}, not created`);
  const runtime = await runtimeFor(deps, record.runtimeHandler);
  // Taken before start: a container may exit (and be recorded) before start returns.
  const startedAt = Date.now() * 1e6;
  // 'running' is written (and flushed) while the runtime starts the container, marked on disk as
  // unconfirmed: a restart before the mark is gone asks the runtime whether the start happened.
  const { record: written } = await deps.containers.updateAround(
    record.id,
    () => runtime.start(record.id),
    (r) => {
      if (r.phase === 'created') return { ...r, phase: 'running', startedAt };
      return r.startedAt === 0 ? { ...r, startedAt, finishedAt: Math.max(r.finishedAt, startedAt) } : r;
    },
    (r) => ({ ...r, unconfirmed: 'start' }),
  );
  // Only this call moves a container to running; an exit recorded first leaves it exited.
  if (written?.phase === 'running') deps.events?.publish('started', record.id, record.podId);
}

export async function stopContainer(deps: ContainerDeps, id: string, timeoutSeconds: number): Promise<void> {
  const record = deps.containers.resolve(id);
  if (!record || !record.runtimeCreated || record.phase === 'exited') return;
  const runtime = await runtimeFor(deps, record.runtimeHandler);
  await runtime.stop(record.id, Math.max(0, timeoutSeconds), record.stopSignal);
  await recordExit(deps, record.id);
}

export async function removeContainer(deps: ContainerDeps, id: string): Promise<void> {
  const record = deps.containers.resolve(id);
  if (!record) return;
  if (record.phase === 'running' || record.phase === 'created') await stopContainer(deps, record.id, 0);
  await undoContainer(deps, record);
  await deps.containers.delete(record.id);
  deps.names.release(record.name, record.id);
  deps.events?.publish('deleted', record.id, record.podId);
}

/** Takes the exit from conmon's exit file into the record (idempotent). */
export async function recordExit(deps: ContainerDeps, id: string, known?: ContainerExit): Promise<void> {
  const record = deps.containers.get(id);
  if (!record || record.phase === 'exited') return;
  const runtime = await runtimeFor(deps, record.runtimeHandler);
  const exit = known ?? (await runtime.readExit(id));
  if (!exit) return;
  // Two callers (the exit watcher and a stop) may race here: only the first records and announces the exit.
  let stopped = false;
  await deps.containers.update(id, (r) => {
    if (r.phase === 'exited') return r;
    stopped = true;
    return {
      ...r,
      phase: 'exited',
      exitCode: exit.exitCode,
      // The exit file's mtime comes from the kernel's coarse clock and can read a few ms early.
      finishedAt: Math.max(exit.finishedAt.getTime() * 1e6, r.startedAt),
      reason: exit.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error',
    };
  });
  if (stopped) deps.events?.publish('stopped', id, record.podId);
}

async function undoContainer(deps: ContainerDeps, record: ContainerRecord): Promise<void> {
  const runDir = containerRunDir(deps.config, record.id);
  if (record.runtimeCreated) {
    const runtime = await runtimeFor(deps, record.runtimeHandler);
    // A conmon left by a daemon killed mid-create may still be creating it.
    if (record.phase === 'creating') await runtime.abandon(record.id, runDir);
    await runtime.delete(record.id, true);
    await runtime.forget(record.id);
  }
  if (record.mounted) {
    await overlayUnmount(join(runDir, 'rootfs'), { detach: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EINVAL' && err.code !== 'ENOENT') throw err;
    });
  }
  await removeTree(runDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Rejects a log path that would leave the kubelet's log directory (before anything is made). */
function checkLogPath(logDirectory: string, logPath: string): void {
  if (!logDirectory && !logPath) return;
  if (!isAbsolute(logDirectory)) throw new RpcError(status.INVALID_ARGUMENT, `sandbox_config.log_directory: ${JSON.stringify(logDirectory)} must be an absolute path`);
  const clean = normalize(logPath);
  if (!logPath || isAbsolute(logPath) || clean.startsWith('..') || clean !== logPath) {
    throw new RpcError(status.INVALID_ARGUMENT, `config.log_path: ${JSON.stringify(logPath)} must be a clean relative path inside the log directory`);
  }
}

/** Why a log path cannot take a log: the request names something that is not (and cannot become) a regular file. */
const unusableLogPath = new Set(['ELOOP', 'EISDIR', 'EINVAL', 'ENXIO', 'EEXIST', 'ENOTDIR']);

/**
 * The kubelet's log_directory + log_path (checked by checkLogPath), created
 * as an empty file inside the log directory without following a symlink out,
 * its last name not at all: conmon opens it by path, following whatever is
 * there, so what it finds must already be a regular file of ours.
 */
async function makeLogPath(logDirectory: string, logPath: string, runDir: string): Promise<string> {
  // No log directory from the kubelet: conmon makes the log in our run directory, which the launch waits for.
  if (!logDirectory && !logPath) return join(runDir, 'container.log');
  const create = (): Promise<string> => createFileInRoot(logDirectory, logPath, 0o755, 0o600);
  try {
    // The kubelet makes the log directory before it creates containers: made here only when missing.
    return await create().catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(logDirectory, { recursive: true, mode: 0o755 });
      return create();
    });
  } catch (err) {
    if (isNativeError(err) && unusableLogPath.has(err.code)) {
      throw new RpcError(status.INVALID_ARGUMENT, `config.log_path: ${JSON.stringify(logPath)} in ${logDirectory}: ${err.message}`);
    }
    throw err;
  }
}

/** A promise settled from outside. */
function settleable(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejected only to stop a conmon that create() awaits with its own handler.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Promise.all that, when one fails, still waits for the others: undo must see every step taken. */
async function allSettled<T extends readonly unknown[]>(promises: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  await Promise.allSettled(promises);
  return (await Promise.all(promises)) as unknown as T;
}

function runningRecord(deps: ContainerDeps, id: string, what: string): ContainerRecord {
  const record = deps.containers.resolve(id);
  if (!record) throw new RpcError(status.NOT_FOUND, `container ${id} not found`);
  if (record.phase !== 'running' && record.phase !== 'created') {
    throw new RpcError(status.FAILED_PRECONDITION, `${what}: container ${record.id} is ${record.phase}`);
  }
  return record;
}

/** UpdateContainerResources through the runtime's `update`. */
export async function updateContainerResources(deps: ContainerDeps, id: string, resources: LinuxContainerResources | null): Promise<void> {
  const record = runningRecord(deps, id, 'UpdateContainerResources');
  const oci = buildResources(resources, { host: await nodeCgroupHost(), field: 'linux' });
  const runtime = await runtimeFor(deps, record.runtimeHandler);
  await runtime.update(record.id, oci);
}

/** ReopenContainerLog: conmon reopens the log file the kubelet rotated away. */
export async function reopenContainerLog(deps: ContainerDeps, id: string): Promise<void> {
  const record = deps.containers.resolve(id);
  if (!record) throw new RpcError(status.NOT_FOUND, `container ${id} not found`);
  if (record.phase !== 'running') throw new RpcError(status.FAILED_PRECONDITION, `ReopenContainerLog: container ${record.id} is not running`);
  const runtime = await runtimeFor(deps, record.runtimeHandler);
  await runtime.reopenLog(record.id);
}
