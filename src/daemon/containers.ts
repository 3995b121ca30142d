import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { containerRunDir, recordExit, removeContainer, runtimeFor, type ContainerDeps, type ContainerRecord } from '../container/containers.js';
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
  const deps: ContainerDeps = { config, log, containers, sandboxes: pods.sandboxes, names: pods.names, images, layers, exits, runtimes: new Map(), events: pods.events };
  exits.on('exit', (id) => {
    recordExit(deps, id).catch((err: unknown) => log.error({ container: id, err }, 'cannot record container exit'));
  });
  for (const record of containers.list()) {
    if (record.phase === 'creating') {
      log.warn({ container: record.id }, 'removing a container left half-created');
      await removeContainer(deps, record.id);
      continue;
    }
    deps.names.reserve(record.name, record.id);
    if (record.runtimeCreated) {
      const runtime = await runtimeFor(deps, record.runtimeHandler);
      await runtime.adopt(record.id, { bundle: containerRunDir(config, record.id), logPath: record.logPath });
      if (record.unconfirmed && !(await settleUnconfirmed(deps, runtime, record))) continue;
      if (record.phase !== 'exited') await recordExit(deps, record.id);
    }
  }
  return deps;
}

/**
 * A record written while the runtime's create or start ran, and the daemon
 * died before it learned the outcome: the runtime's state says which it was.
 * Resolves false when the container never came to be (and is removed).
 */
async function settleUnconfirmed(deps: ContainerDeps, runtime: OciRuntime, record: ContainerRecord): Promise<boolean> {
  const state = await runtime.state(record.id);
  if (record.unconfirmed === 'create' && state === undefined) {
    deps.log.warn({ container: record.id }, 'removing a container whose create did not finish');
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
