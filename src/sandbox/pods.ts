// Pod sandboxes: the pod cgroup, pinned namespaces, CNI networking, shared
// pod files, and the infra process when the pod shares a PID namespace.
// Every step of RunPodSandbox is recorded before it is taken, so a failure
// (or a crash) can be undone step by step; stop and remove are idempotent.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { applyPodResources, createPodCgroup, podResources, removePodCgroup } from '../cgroups/pod_cgroup.js';
import { nodeCgroupLayout } from '../cgroups/hierarchies.js';
import { podCgroup } from '../cgroups/paths.js';
import { pinNamespaces, removeTree, unpinNamespaces } from '../native/index.js';
import type { CniNetwork, PortMapping } from '../network/cni_network.js';
import type { OciRuntime } from '../oci/runtime/index.js';
import { buildResources, nodeCgroupHost, podSysctls, type OciResources } from '../oci/spec/index.js';
import { NamespaceMode, Protocol, type PodSandboxConfig } from '../proto/cri.js';
import { RpcError } from '../server/rpc.js';
import type { LifecycleEvents } from '../state/events.js';
import type { NameRegistry } from '../state/names.js';
import type { RecordStore } from '../state/record_store.js';
import { adoptInfra, deleteInfra, infraPidNamespace, startInfra, stopInfra } from './infra.js';
import { dnsConfigProblem, mountShm, podFilePaths, unmountShm, writePodFiles, type PodFilePaths } from './pod_files.js';

export type SandboxState = 'creating' | 'ready' | 'notready';

export interface SandboxRecord {
  id: string;
  /** The reserved name: k8s_POD_<name>_<namespace>_<uid>_<attempt>. */
  name: string;
  state: SandboxState;
  /** Nanoseconds since the epoch. */
  createdAt: number;
  config: PodSandboxConfig;
  runtimeHandler: string;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  /** Pinned namespace files; absent kinds are the host's. */
  namespaces: { net?: string; ipc?: string; uts?: string };
  files: PodFilePaths;
  /** Steps taken, so undo and stop know what to reverse. */
  network: boolean;
  shm: boolean;
  ips: string[];
  /**
   * The pod cgroup in the cgroup driver's syntax: a cgroupfs path
   * ("/kubepods/burstable/pod<uid>") or a systemd slice name. The infra's
   * and the containers' cgroups nest in it.
   */
  cgroupParent: string;
  /**
   * The pod cgroup's directory below each hierarchy's root (the same in
   * every v1 controller and in the v2 tree), e.g. "/kubepods/burstable/pod<uid>"
   * or "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice".
   */
  cgroupPath: string;
  /** skiff made the pod cgroup (the kubelet had not), so remove takes it away again. */
  cgroupCreated: boolean;
  /** The infra process of a pod sharing a PID namespace; pid 0 until it is running. */
  infra?: { pid: number; stopping?: boolean };
}

export interface PodDeps {
  config: SkiffConfig;
  log: Logger;
  sandboxes: RecordStore<SandboxRecord>;
  names: NameRegistry;
  cni: CniNetwork;
  /** The driver of a runtime handler, shared with the containers (runs the infra process). */
  runtimeFor: (handler: string) => Promise<OciRuntime>;
  /** Lifecycle events for GetContainerEvents; a sandbox reports under its own id. */
  events?: LifecycleEvents;
}

export function sandboxRunDir(config: SkiffConfig, id: string): string {
  return join(config.runroot, 'sandboxes', id);
}

export function podName(config: PodSandboxConfig): string {
  const m = config.metadata!;
  return `k8s_POD_${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

/** RunPodSandbox: returns the new (or, for an identical retry, the existing) pod id. */
export async function runPod(deps: PodDeps, config: PodSandboxConfig | null, runtimeHandler: string): Promise<string> {
  const podConfig = validatePodConfig(config);
  const handler = runtimeHandler || deps.config.default_runtime;
  if (!deps.config.runtimes[handler]) {
    throw new RpcError(status.INVALID_ARGUMENT, `runtime_handler: unknown runtime handler "${handler}" (configured: ${Object.keys(deps.config.runtimes).join(', ')})`);
  }
  const name = podName(podConfig);
  const id = randomBytes(32).toString('hex');
  const holder = deps.names.reserve(name, id);
  if (holder) {
    const existing = deps.sandboxes.get(holder);
    // A kubelet retry of the same request after a timeout gets the first result.
    if (existing && existing.state === 'ready' && sameRequest(existing.config, podConfig)) return existing.id;
    throw new RpcError(status.ALREADY_EXISTS, `pod sandbox name "${name}" is reserved by ${holder}`);
  }

  const options = podConfig.linux?.securityContext?.namespaceOptions;
  const hostNetwork = options?.network === NamespaceMode.NODE;
  const hostIpc = options?.ipc === NamespaceMode.NODE;
  const hostPid = options?.pid === NamespaceMode.NODE;
  const sharedPid = options?.pid === NamespaceMode.POD;
  let cgroup: ReturnType<typeof podCgroup>;
  let resources: OciResources | undefined;
  try {
    cgroup = podCgroup(deps.config.cgroup_manager, podConfig.linux?.cgroupParent ?? '', deps.config.default_cgroup_parent, id);
    const total = podResources(podConfig.linux?.resources, podConfig.linux?.overhead);
    if (total) resources = buildResources(total, { host: await nodeCgroupHost(), field: 'config.linux.resources' });
  } catch (err) {
    deps.names.release(name, id);
    throw err;
  }
  const runDir = sandboxRunDir(deps.config, id);
  let record: SandboxRecord = {
    id,
    name,
    state: 'creating',
    createdAt: Date.now() * 1e6,
    config: podConfig,
    runtimeHandler: handler,
    hostNetwork,
    hostIpc,
    hostPid,
    namespaces: {},
    files: podFilePaths(runDir),
    network: false,
    shm: false,
    ips: [],
    cgroupParent: cgroup.parent,
    cgroupPath: cgroup.path,
    cgroupCreated: false,
  };
  try {
    const sysctls = podSysctls(podConfig.linux?.sysctls ?? {}, { hostNetwork, hostIpc }, 'config.linux.sysctls');
    record = await deps.sandboxes.put(record);
    await mkdir(runDir, { recursive: true, mode: 0o711 });
    // systemd makes a slice itself when the first scope lands in it.
    if (deps.config.cgroup_manager === 'cgroupfs') {
      const layout = await nodeCgroupLayout();
      const created = await createPodCgroup(layout, cgroup.path);
      record = await deps.sandboxes.put({ ...record, cgroupCreated: created });
      // A cgroup the kubelet made is the kubelet's to size.
      if (created && resources) await applyPodResources(layout, cgroup.path, resources);
    }
    const kinds = [...(hostNetwork ? [] : (['net', 'uts'] as const)), ...(hostIpc ? [] : (['ipc'] as const))];
    if (kinds.length) {
      const pinned = await pinNamespaces({
        dir: join(runDir, 'ns'),
        kinds: [...kinds],
        ...(hostNetwork ? {} : { hostname: podHostname(podConfig) }),
        sysctls,
      });
      record = await deps.sandboxes.put({ ...record, namespaces: pinned });
    }
    if (!hostNetwork) {
      record = await deps.sandboxes.put({ ...record, network: true });
      const net = await deps.cni.setUp({
        podId: id,
        podName: podConfig.metadata!.name,
        podNamespace: podConfig.metadata!.namespace,
        podUid: podConfig.metadata!.uid,
        netnsPath: record.namespaces.net!,
        portMappings: podConfig.portMappings.map(toCniPortMapping),
        ...(podConfig.linux?.cgroupParent ? { cgroupPath: podConfig.linux.cgroupParent } : {}),
      });
      record = await deps.sandboxes.put({ ...record, ips: net.ips });
    }
    await writePodFiles(record.files, { hostname: podHostname(podConfig), ips: record.ips, dns: podConfig.dnsConfig, hostNetwork });
    record = await deps.sandboxes.put({ ...record, shm: true });
    await mountShm(record.files.shm);
    if (sharedPid) {
      record = await deps.sandboxes.put({ ...record, infra: { pid: 0 } });
      const pid = await startInfra(
        { config: deps.config, log: deps.log, runtime: await deps.runtimeFor(handler), runDir },
        { ...record, hostname: podHostname(podConfig) },
      );
      record = await deps.sandboxes.put({ ...record, infra: { pid } });
    }
    record = await deps.sandboxes.put({ ...record, state: 'ready' });
    deps.log.info({ pod: id, name, ips: record.ips }, 'pod sandbox ready');
    deps.events?.publish('created', id, id);
    deps.events?.publish('started', id, id);
    return id;
  } catch (err) {
    deps.log.warn({ pod: id, err }, 'RunPodSandbox failed; undoing');
    await undoPod(deps, record).catch((undoErr: unknown) => deps.log.error({ pod: id, err: undoErr }, 'cannot undo a failed pod'));
    await deps.sandboxes.delete(id).catch(() => undefined);
    deps.names.release(name, id);
    if (err instanceof RpcError) throw err;
    throw new RpcError(status.UNKNOWN, `RunPodSandbox ${name}: ${(err as Error).message}`, { cause: err });
  }
}

/** StopPodSandbox for the pod itself (its containers are stopped by the caller first). */
export async function stopPod(deps: PodDeps, id: string): Promise<void> {
  const record = deps.sandboxes.get(id);
  if (!record) return;
  await undoPod(deps, record, { keepFiles: true });
  await deps.sandboxes.update(id, (r) => ({ ...r, state: 'notready', network: false, shm: false }));
  if (record.state === 'ready') deps.events?.publish('stopped', id, id);
}

export async function removePod(deps: PodDeps, id: string): Promise<void> {
  const record = deps.sandboxes.get(id);
  if (!record) return;
  await undoPod(deps, record);
  await deps.sandboxes.delete(id);
  deps.names.release(record.name, id);
  // The record is gone: the event carries the pod as it was, so the kubelet can drop it from its cache.
  deps.events?.publish('deleted', id, id, { ...record, state: 'notready' });
}

/**
 * Reverses whatever a pod record says was done; safe to repeat. Every step is
 * tried even when an earlier one fails, so one stuck part does not leak the rest.
 */
async function undoPod(deps: PodDeps, record: SandboxRecord, opts: { keepFiles?: boolean } = {}): Promise<void> {
  const failures: unknown[] = [];
  const attempt = async (step: string, action: () => Promise<unknown>): Promise<void> => {
    try {
      await action();
    } catch (err) {
      deps.log.warn({ pod: record.id, step, err }, 'pod cleanup step failed');
      failures.push(err);
    }
  };
  // The infra goes first: its pid namespace holds no container any more, and it sits in the pod's namespaces.
  if (record.infra) {
    const runtime = await deps.runtimeFor(record.runtimeHandler);
    // Recorded first, so the exit this causes is not taken for the infra dying on its own.
    await deps.sandboxes.update(record.id, (r) => (r.infra ? { ...r, infra: { ...r.infra, stopping: true } } : r));
    // pid 0: the create failed, and the runtime has cleaned up after itself.
    if (record.infra.pid > 0) await attempt('stop infra', () => stopInfra(runtime, record.id));
    if (!opts.keepFiles) await attempt('delete infra', () => deleteInfra(runtime, record.id));
  }
  if (record.shm) await attempt('unmount shm', () => unmountShm(record.files.shm));
  // CNI DEL while the netns still exists, so plugins can clean inside it too.
  if (record.network) await attempt('CNI DEL', () => deps.cni.tearDown({ podId: record.id, netnsPath: record.namespaces.net ?? '' }));
  if (!opts.keepFiles) {
    const pins = Object.values(record.namespaces).filter((p): p is string => typeof p === 'string');
    if (pins.length) await attempt('unpin namespaces', () => unpinNamespaces(pins));
    await attempt('remove run dir', () =>
      removeTree(sandboxRunDir(deps.config, record.id)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    );
    if (record.cgroupCreated) await attempt('remove pod cgroup', () => removeOwnCgroup(deps, record));
  }
  if (failures.length) throw failures[0];
}

/** Removes the pod cgroup skiff made; one something still lives in stays (and is logged). */
async function removeOwnCgroup(deps: PodDeps, record: SandboxRecord): Promise<void> {
  const busy = await removePodCgroup(await nodeCgroupLayout(), record.cgroupPath);
  if (busy.length) deps.log.warn({ pod: record.id, busy }, 'pod cgroup still in use; left in place');
}

/** Takes over the infra process of a pod after a restart; a pod whose infra died meanwhile is not ready. */
export async function resumeInfra(deps: PodDeps, id: string): Promise<void> {
  const record = deps.sandboxes.get(id);
  if (!record?.infra) return;
  const runtime = await deps.runtimeFor(record.runtimeHandler);
  const running = await adoptInfra(runtime, id, sandboxRunDir(deps.config, id));
  if (!running) await infraExited(deps, id);
}

/** The infra process is gone: its PID namespace (and every process in it) went with it. */
export async function infraExited(deps: PodDeps, id: string): Promise<void> {
  const record = deps.sandboxes.get(id);
  if (!record?.infra || record.infra.stopping || record.state !== 'ready') return;
  await deps.sandboxes.update(id, (r) => (r.state === 'ready' ? { ...r, state: 'notready' } : r));
  deps.log.warn({ pod: id, pid: record.infra.pid }, 'infra process exited; pod sandbox not ready');
  deps.events?.publish('stopped', id, id);
}

function validatePodConfig(config: PodSandboxConfig | null): PodSandboxConfig {
  if (!config) throw new RpcError(status.INVALID_ARGUMENT, 'config: required');
  const m = config.metadata;
  if (!m) throw new RpcError(status.INVALID_ARGUMENT, 'config.metadata: required');
  for (const field of ['name', 'namespace', 'uid'] as const) {
    if (!m[field]) throw new RpcError(status.INVALID_ARGUMENT, `config.metadata.${field}: required`);
    if (/[\s/\0]/.test(m[field])) throw new RpcError(status.INVALID_ARGUMENT, `config.metadata.${field}: ${JSON.stringify(m[field])} must not contain whitespace or '/'`);
  }
  if (config.hostname && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(config.hostname)) {
    throw new RpcError(status.INVALID_ARGUMENT, `config.hostname: ${JSON.stringify(config.hostname)} is not a valid hostname`);
  }
  const dns = dnsConfigProblem(config.dnsConfig);
  if (dns) throw new RpcError(status.INVALID_ARGUMENT, dns);
  for (const [i, p] of config.portMappings.entries()) {
    if (p.containerPort < 0 || p.containerPort > 65535 || p.hostPort < 0 || p.hostPort > 65535) {
      throw new RpcError(status.INVALID_ARGUMENT, `config.port_mappings[${i}]: ports must be within 0-65535`);
    }
  }
  return config;
}

/** The pod's shared PID namespace (its infra's), when it has one. */
export function podPidNamespace(record: SandboxRecord): string | undefined {
  return record.infra && record.infra.pid > 0 ? infraPidNamespace(record.infra.pid) : undefined;
}

/** The pod's hostname: the configured one, else its name cut to the kernel's 64-byte limit. */
export function podHostname(config: PodSandboxConfig): string {
  return config.hostname || config.metadata!.name.slice(0, 63);
}

function toCniPortMapping(p: PodSandboxConfig['portMappings'][number]): PortMapping {
  const protocol = p.protocol === Protocol.UDP ? 'udp' : p.protocol === Protocol.SCTP ? 'sctp' : 'tcp';
  return { hostPort: p.hostPort, containerPort: p.containerPort, protocol, ...(p.hostIp ? { hostIP: p.hostIp } : {}) };
}

function sameRequest(a: PodSandboxConfig, b: PodSandboxConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
