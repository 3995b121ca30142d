import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { CniNetwork } from '../network/cni_network.js';
import type { PodDeps, SandboxRecord } from '../sandbox/pods.js';
import { removePod } from '../sandbox/pods.js';
import { NameRegistry } from '../state/names.js';
import { RecordStore } from '../state/record_store.js';

/** Loads pod records; pods caught half-created by a crash are undone. */
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
  const deps: PodDeps = { config, log, sandboxes, names: new NameRegistry(), cni };
  for (const pod of sandboxes.list()) {
    if (pod.state === 'creating') {
      log.warn({ pod: pod.id }, 'removing a pod sandbox left half-created');
      await removePod(deps, pod.id);
    } else {
      deps.names.reserve(pod.name, pod.id);
    }
  }
  return deps;
}
