// The daemon's pod and container machinery opened inside the test process
// (no gRPC): what the streaming backend is built from in the daemon, over a
// private root, runroot, CNI network and registries.conf.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultConfig, type SkiffConfig } from '../../src/config/schema.js';
import { createContainer, removeContainer, startContainer, type ContainerDeps } from '../../src/container/containers.js';
import { openContainers } from '../../src/daemon/containers.js';
import { openPods, resumePods } from '../../src/daemon/pods.js';
import { openImageStorage } from '../../src/daemon/storage.js';
import { serviceDefinition } from '../../src/proto/codec.js';
import { RuntimeServiceName } from '../../src/proto/cri.js';
import { removePod, runPod, type PodDeps } from '../../src/sandbox/pods.js';
import { scratchDir } from '../helpers/daemon.js';
import { cniPluginDir, removeBridge, writeBridgeNetwork } from '../helpers/cni_bridge.js';

export interface InProcessRuntime {
  config: SkiffConfig;
  pods: PodDeps;
  containers: ContainerDeps;
  runPod(config: Record<string, any>): Promise<string>;
  /** Creates and starts a container; resolves with its id once it runs. */
  runContainer(podId: string, podConfig: Record<string, any>, config: Record<string, any>): Promise<string>;
  close(): Promise<void>;
}

export async function openInProcessRuntime(opts: { insecureRegistry: string; image: string; bridge: string; subnet: string }): Promise<InProcessRuntime> {
  const scratch = await scratchDir('skiff-exec-');
  const dir = scratch.dir;
  const etc = join(dir, 'etc');
  await mkdir(join(etc, 'registries.conf.d'), { recursive: true });
  await mkdir(join(dir, 'cni'), { recursive: true });
  await writeFile(join(etc, 'registries.conf'), `[[registry]]\nlocation = "${opts.insecureRegistry}"\ninsecure = true\n`);
  await writeFile(join(etc, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  await writeBridgeNetwork(join(dir, 'cni'), join(dir, 'ipam'), opts.bridge, opts.subnet);
  const defaults = defaultConfig();
  const config: SkiffConfig = {
    ...defaults,
    root: join(dir, 'root'),
    runroot: join(dir, 'run'),
    listen: join(dir, 'run', 'skiff.sock'),
    network: { ...defaults.network, cni_config_dir: join(dir, 'cni'), cni_plugin_dirs: [cniPluginDir] },
    image: {
      ...defaults.image,
      registries_conf: join(etc, 'registries.conf'),
      registries_conf_dir: join(etc, 'registries.conf.d'),
      signature_policy: join(etc, 'policy.json'),
      certs_dir: join(etc, 'certs.d'),
    },
  };
  const log = pino({ level: 'silent' });
  const storage = await openImageStorage(config, log);
  const pods = await openPods(config, log);
  const containers = await openContainers(config, log, pods, storage.images, storage.layers);
  await resumePods(pods, containers);
  await storage.puller.pull(opts.image);

  const podIds: string[] = [];
  return {
    config,
    pods,
    containers,
    runPod: async (podConfig) => {
      const request = asDecoded('RunPodSandbox', { config: podConfig });
      const id = await runPod(pods, request.config, request.runtimeHandler);
      podIds.push(id);
      return id;
    },
    runContainer: async (podId, podConfig, ctrConfig) => {
      const request = asDecoded('CreateContainer', { podSandboxId: podId, config: ctrConfig, sandboxConfig: podConfig });
      const id = await createContainer(containers, request.podSandboxId, request.config, request.sandboxConfig);
      await startContainer(containers, id);
      return id;
    },
    close: async () => {
      for (const c of containers.containers.list()) await removeContainer(containers, c.id).catch(() => undefined);
      for (const id of podIds) await removePod(pods, id).catch(() => undefined);
      containers.exits.close();
      await removeBridge(opts.bridge);
      await scratch.cleanup();
    },
  };
}

/** A request as a handler receives it: through the wire codec, defaults filled in. */
function asDecoded(method: string, request: object): any {
  const def = serviceDefinition(RuntimeServiceName)[method]!;
  return def.requestDeserialize(def.requestSerialize(request));
}
