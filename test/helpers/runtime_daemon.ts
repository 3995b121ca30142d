// What the tests that run real pods through the CRI share: a registry with
// the busybox image, a daemon (runc under conmon) on a CNI bridge network of
// the test's own with that image pulled, pod and container config builders,
// a wait on container state, and a cleanup that leaves the host as it was
// even when a test failed half-way.
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pushBusybox, type BusyboxImageOptions } from './busybox_image.js';
import { cniPluginDir, removeBridge, removeIptablesRules, writeBridgeNetwork } from './cni_bridge.js';
import { restartImageDaemon, startImageDaemon, type ImageDaemon } from './image_daemon.js';
import { startRegistry, type TestRegistry } from './registry.js';

/** CRI ContainerState values. */
export const State = { created: 0, running: 1, exited: 2 } as const;

export interface RuntimeDaemonOptions {
  /** Names the test: the image repository, the pods' namespace and their `suite` label. */
  suite: string;
  /** Bridge name and subnet, unique to the test file. */
  bridge: string;
  subnet: string;
  /** The cgroupfs parent of every pod podConfig builds (removed at cleanup). */
  cgroupParent?: string;
  /** Adds the portmap plugin to the network. */
  portmap?: boolean;
  image?: BusyboxImageOptions;
  /** More daemon flags (a later flag wins). */
  extraArgs?: string[];
}

export interface RuntimeDaemon {
  registry: TestRegistry;
  /** The current daemon (replaced by restartDaemon). */
  daemon: ImageDaemon;
  /** Starts a new daemon on the same directories, after the current one stopped or was killed. */
  restartDaemon(): Promise<void>;
  image: string;
  suite: string;
  bridge: string;
  subnet: string;
  cgroupParent?: string;
  /** Pods' log directories go below this. */
  logDir: string;
  cleanup(): Promise<void>;
}

export async function startRuntimeDaemon(opts: RuntimeDaemonOptions): Promise<RuntimeDaemon> {
  const { suite, bridge, subnet, cgroupParent } = opts;
  const registry = await startRegistry();
  let daemon: ImageDaemon | undefined;
  try {
    const image = await pushBusybox(registry, `${suite}/busybox`, opts.image);
    const daemonArgs = ['--cni-plugin-dir', cniPluginDir, ...(opts.extraArgs ?? [])];
    daemon = await startImageDaemon({ insecure: [registry.host], extraArgs: daemonArgs });
    await writeBridgeNetwork(join(daemon.dir, 'cni'), join(daemon.dir, 'ipam'), bridge, subnet, { portmap: opts.portmap ?? false });
    await daemon.client.image.PullImage!({ image: { image } });
    const fx: RuntimeDaemon = {
      registry,
      daemon,
      restartDaemon: async () => {
        fx.daemon = await restartImageDaemon(fx.daemon, daemonArgs);
      },
      image,
      suite,
      bridge,
      subnet,
      ...(cgroupParent ? { cgroupParent } : {}),
      logDir: join(daemon.dir, 'pod-logs'),
      // A test may restart the daemon: clean up whichever one is current.
      cleanup: () => cleanupHost(fx.daemon, registry, opts),
    };
    return fx;
  } catch (err) {
    if (daemon) await cleanupHost(daemon, registry, opts).catch(() => undefined);
    else await registry.stop();
    throw err;
  }
}

/** Removes every pod the daemon still has, stops it, and removes what the network and pods left on the host. */
async function cleanupHost(daemon: ImageDaemon, registry: TestRegistry, opts: RuntimeDaemonOptions): Promise<void> {
  try {
    const { items } = await daemon.client.runtime.ListPodSandbox!({});
    await Promise.all(items.map((p: { id: string }) => daemon.client.runtime.RemovePodSandbox!({ podSandboxId: p.id }).catch(() => undefined)));
  } catch {
    // The daemon may be down (a test killed it); what it left is removed below.
  }
  await daemon.cleanup().catch(() => undefined);
  await registry.stop().catch(() => undefined);
  await removeBridge(opts.bridge);
  await removeIptablesRules(opts.subnet);
  if (opts.cgroupParent) {
    for (const controller of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
      await removeCgroupTree(join('/sys/fs/cgroup', controller, opts.cgroupParent));
    }
  }
}

/** rmdir of a cgroup and what is below it, deepest first (cgroup dirs hold only control files). */
async function removeCgroupTree(dir: string): Promise<void> {
  for (const child of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (child.isDirectory()) await removeCgroupTree(join(dir, child.name));
  }
  await rmdir(dir).catch(() => undefined);
}

let podCounter = 0;

/** A pod config with unique metadata, a log directory of its own and the fixture's cgroup parent. */
export function podConfig(
  fx: Pick<RuntimeDaemon, 'suite' | 'logDir' | 'cgroupParent'>,
  name: string,
  extra: Record<string, unknown> = {},
  linux: Record<string, unknown> = {},
): Record<string, any> {
  const uid = `uid-${name}-${process.pid}-${podCounter++}`;
  return {
    metadata: { name, namespace: fx.suite, uid, attempt: 0 },
    hostname: name,
    logDirectory: join(fx.logDir, uid),
    labels: { suite: fx.suite, pod: name },
    linux: { ...(fx.cgroupParent ? { cgroupParent: fx.cgroupParent } : {}), ...linux },
    ...extra,
  };
}

/** A container config running `command` in the fixture's image, labelled `ctr: name`, logging to `name/0.log`. */
export function containerConfig(fx: Pick<RuntimeDaemon, 'image'>, name: string, command: string[], extra: Record<string, unknown> = {}): Record<string, any> {
  return {
    metadata: { name, attempt: 0 },
    image: { image: fx.image },
    command,
    logPath: `${name}/0.log`,
    labels: { ctr: name },
    ...extra,
  };
}

export interface Pod {
  id: string;
  config: Record<string, any>;
}

export async function runPod(fx: RuntimeDaemon, config: Record<string, any>, runtimeHandler = ''): Promise<Pod> {
  const { podSandboxId } = await fx.daemon.client.runtime.RunPodSandbox!({ config, runtimeHandler });
  return { id: podSandboxId, config };
}

/** Creates and starts a container; resolves with its id. */
export async function startContainer(fx: RuntimeDaemon, pod: Pod, config: Record<string, any>): Promise<string> {
  const { containerId } = await fx.daemon.client.runtime.CreateContainer!({ podSandboxId: pod.id, config, sandboxConfig: pod.config });
  await fx.daemon.client.runtime.StartContainer!({ containerId });
  return containerId;
}

export async function containerStatus(fx: RuntimeDaemon, id: string): Promise<any> {
  return (await fx.daemon.client.runtime.ContainerStatus!({ containerId: id })).status;
}

/** Waits (polling the CRI, as the kubelet does) until the container is in `state`. */
export async function waitState(fx: RuntimeDaemon, id: string, state: number, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await containerStatus(fx, id);
    if (s.state === state) return s;
    if (Date.now() > deadline) throw new Error(`container ${id} still in state ${s.state}, not ${state}; log:\n${await readFile(s.logPath, 'utf8').catch(() => '')}`);
    await sleep(50);
  }
}
