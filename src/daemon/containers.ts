import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { containerRunDir, recordExit, removeContainer, runtimeFor, type ContainerDeps, type ContainerRecord } from '../container/containers.js';
import { ImageFileCache } from '../container/image_files.js';
import { removeTree } from '../native/index.js';
import { ExitWatcher, type OciRuntime } from '../oci/runtime/index.js';
import type { PodDeps } from '../sandbox/pods.js';
import { RecordStore } from '../state/record_store.js';
import type { ImageStore } from '../storage/image_store.js';
import type { LayerStore } from '../storage/layer_store.js';

/**
 * Loads container records and takes the running ones back under watch:
 * exits that happened while the daemon was down are read from conmon's
 * exit files; containers caught half-created are undone.
 */
export async function openContainers(config: SkiffConfig, log: Logger, pods: PodDeps, images: ImageStore, layers: LayerStore): Promise<ContainerDeps> {
  const containers = new RecordStore<ContainerRecord>(join(config.root, 'containers'), 'container.json', log);
  await containers.open();
  const exits = await ExitWatcher.open(join(config.runroot, 'exits'), log);
  const deps: ContainerDeps = { config, log, containers, sandboxes: pods.sandboxes, names: pods.names, images, layers, exits, runtimes: new Map(), events: pods.events, imageFiles: new ImageFileCache() };
  exits.on('exit', (id) => {
    recordExit(deps, id).catch((err: unknown) => log.error({ container: id, err }, 'cannot record container exit'));
  });
  for (const record of containers.list()) {
    // One container the runtime cannot answer for does not keep the daemon from starting.
    await recoverContainer(deps, record).catch((err: unknown) => log.error({ container: record.id, err }, 'cannot recover a container; its record is kept for the next start'));
  }
  await removeStrayRunDirs(deps).catch((err: unknown) => log.error({ err }, 'cannot remove run directories left without a record'));
  return deps;
}

/** The names CreateContainer gives: 64 hex digits. */
const containerId = /^[0-9a-f]{64}$/;

/**
 * Run directories with no record: CreateContainer makes one and starts its
 * conmon while the record is being written, so a daemon killed then leaves
 * them behind. Nothing ran there (conmon runs the runtime only once the
 * bundle is ready, which waits for the record), and such a conmon exits when
 * the daemon dies; one still there is killed before its directory goes.
 */
async function removeStrayRunDirs(deps: ContainerDeps): Promise<void> {
  const dir = join(deps.config.runroot, 'containers');
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const strays = names.filter((name) => containerId.test(name) && !deps.containers.get(name));
  if (strays.length === 0) return;
  const runtime = await runtimeFor(deps, deps.config.default_runtime);
  for (const id of strays) {
    deps.log.warn({ container: id }, 'removing a run directory left without a record');
    const runDir = containerRunDir(deps.config, id);
    // One that cannot go does not keep the others; it is tried again at the next start.
    await runtime
      .abandon(id, runDir)
      // Refuses to cross a mount point: nothing is mounted before the record exists.
      .then(() => removeTree(runDir))
      .catch((err: unknown) => deps.log.error({ container: id, err }, 'cannot remove a run directory left without a record'));
  }
}

async function recoverContainer(deps: ContainerDeps, record: ContainerRecord): Promise<void> {
  // Held until the record goes, even when it cannot be recovered now.
  deps.names.reserve(record.name, record.id);
  if (record.phase === 'creating') {
    deps.log.warn({ container: record.id }, 'removing a container left half-created');
    await removeContainer(deps, record.id);
    return;
  }
  if (!record.runtimeCreated) return;
  const runtime = await runtimeFor(deps, record.runtimeHandler);
  await runtime.adopt(record.id, { bundle: containerRunDir(deps.config, record.id), logPath: record.logPath });
  if (record.unconfirmed && !(await settleUnconfirmed(deps, runtime, record))) return;
  if (record.phase !== 'exited') await recordExit(deps, record.id);
}

/**
 * A record written while the runtime's create or start ran, and the daemon
 * died before it learned the outcome: the runtime's state says which it was.
 * Resolves false when the container never came to be (and is removed).
 */
async function settleUnconfirmed(deps: ContainerDeps, runtime: OciRuntime, record: ContainerRecord): Promise<boolean> {
  const state = await runtime.state(record.id);
  if (state === undefined && record.phase !== 'exited') {
    // The create never happened (its conmon may still be at it), or the container is gone.
    deps.log.warn({ container: record.id, unconfirmed: record.unconfirmed }, 'removing a container the runtime does not know');
    await runtime.abandon(record.id, containerRunDir(deps.config, record.id));
    await removeContainer(deps, record.id);
    return false;
  }
  await deps.containers.update(record.id, (r) => {
    const { unconfirmed: _, ...settled } = r;
    // Recorded as running, but the start never reached the runtime.
    if (r.unconfirmed === 'start' && r.phase === 'running' && state?.status === 'created') return { ...settled, phase: 'created', startedAt: 0 };
    return settled;
  });
  return true;
}
