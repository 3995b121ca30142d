// Pod sandboxes: pinned namespaces, CNI networking, shared pod files.
// Every step of RunPodSandbox is recorded before it is taken, so a failure
// (or a crash) can be undone step by step; stop and remove are idempotent.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { pinNamespaces, removeTree, unpinNamespaces } from '../native/index.js';
import type { CniNetwork, PortMapping } from '../network/cni_network.js';
import { podSysctls } from '../oci/spec/index.js';
import { NamespaceMode, Protocol, type PodSandboxConfig } from '../proto/cri.js';
import { RpcError } from '../server/rpc.js';
import type { NameRegistry } from '../state/names.js';
import type { RecordStore } from '../state/record_store.js';
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
  cgroupParent: string;
}

export interface PodDeps {
  config: SkiffConfig;
  log: Logger;
  sandboxes: RecordStore<SandboxRecord>;
  names: NameRegistry;
  cni: CniNetwork;
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
  if (options?.pid === NamespaceMode.POD) {
    deps.names.release(name, id);
    throw new RpcError(status.UNIMPLEMENTED, 'config.linux.security_context.namespace_options.pid: a shared pod PID namespace (POD) is not implemented yet');
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
    cgroupParent: podConfig.linux?.cgroupParent ?? '',
  };
  try {
    const sysctls = podSysctls(podConfig.linux?.sysctls ?? {}, { hostNetwork, hostIpc }, 'config.linux.sysctls');
    record = await deps.sandboxes.put(record);
    await mkdir(runDir, { recursive: true, mode: 0o711 });
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
    record = await deps.sandboxes.put({ ...record, state: 'ready' });
    deps.log.info({ pod: id, name, ips: record.ips }, 'pod sandbox ready');
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
}

export async function removePod(deps: PodDeps, id: string): Promise<void> {
  const record = deps.sandboxes.get(id);
  if (!record) return;
  await undoPod(deps, record);
  await deps.sandboxes.delete(id);
  deps.names.release(record.name, id);
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
  }
  if (failures.length) throw failures[0];
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
