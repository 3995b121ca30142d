import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { CniNetwork } from '../network/cni_network.js';
import { runtimeFor, type ContainerDeps } from '../container/containers.js';
import type { PodDeps, SandboxRecord } from '../sandbox/pods.js';
import { infraExited, removePod, resumeInfra } from '../sandbox/pods.js';
import { LifecycleEvents } from '../state/events.js';
import { NameRegistry } from '../state/names.js';
import { RecordStore } from '../state/record_store.js';

/** Loads pod records and reserves their names; `resumePods` finishes the job once runtimes are there. */
export async function openPods(config: SkiffConfig, log: Logger): Promise<PodDeps> {
  const sandboxes = new RecordStore<SandboxRecord>(join(config.root, 'sandboxes'), 'sandbox.json', log);
  await sandboxes.open();
  const cni = new CniNetwork({
    configDir: config.network.cni_config_dir,
    pluginDirs: config.network.cni_plugin_dirs,
    defaultNetwork: config.network.cni_default_network,
    cacheDir: join(config.root, 'cni-cache'),
    log,
  });
  const events = new LifecycleEvents((err) => log.error({ err }, 'a lifecycle event subscriber failed'));
  const runtimesNotReady = (): Promise<never> => Promise.reject(new Error('runtime handlers are not wired up yet'));
  const deps: PodDeps = { config, log, sandboxes, names: new NameRegistry(), cni, events, runtimeFor: runtimesNotReady };
  for (const pod of sandboxes.list()) {
    if (pod.state !== 'creating') deps.names.reserve(pod.name, pod.id);
  }
  return deps;
}

/**
 * Gives pods the containers' runtime drivers and exit watcher, undoes pods
 * caught half-created by a crash, and takes running infra processes back
 * (a pod whose infra died while the daemon was down is not ready).
 */
export async function resumePods(pods: PodDeps, containers: ContainerDeps): Promise<void> {
  pods.runtimeFor = (handler) => runtimeFor(containers, handler);
  containers.exits.on('exit', (id) => {
    if (!pods.sandboxes.get(id)?.infra) return;
    infraExited(pods, id).catch((err: unknown) => pods.log.error({ pod: id, err }, 'cannot record the infra exit'));
  });
  for (const pod of pods.sandboxes.list()) {
    if (pod.state === 'creating') {
      pods.log.warn({ pod: pod.id }, 'removing a pod sandbox left half-created');
      await removePod(pods, pod.id);
    } else if (pod.infra) {
      await resumeInfra(pods, pod.id).catch((err: unknown) => pods.log.error({ pod: pod.id, err }, 'cannot take over the infra process'));
    }
  }
}
