// Builders for complete CRI messages (as the decoder hands them over: every
// field present, proto3 defaults) and a fake image rootfs.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  MountPropagation,
  Signal,
  SupplementalGroupsPolicy,
  type ContainerConfig,
  type LinuxContainerSecurityContext,
  type LinuxSandboxSecurityContext,
  type Mount,
  type PodSandboxConfig,
} from '../../src/proto/cri.js';
import { knownCapabilities } from '../../src/oci/spec/capabilities.js';
import { unlimitedResources } from '../../src/cgroups/pod_cgroup.js';
import type { ContainerSpecInput } from '../../src/oci/spec/container.js';
import type { DeviceInfo, HostDevice } from '../../src/oci/spec/devices.js';
import type { RpcError } from '../../src/server/rpc.js';

export const criDefaultCaps = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'KILL'];

export function securityContext(over: Partial<LinuxContainerSecurityContext> = {}): LinuxContainerSecurityContext {
  return {
    capabilities: null,
    privileged: false,
    namespaceOptions: null,
    selinuxOptions: null,
    runAsUser: null,
    runAsGroup: null,
    runAsUsername: '',
    readonlyRootfs: false,
    supplementalGroups: [],
    supplementalGroupsPolicy: SupplementalGroupsPolicy.Merge,
    noNewPrivs: false,
    maskedPaths: [],
    readonlyPaths: [],
    seccomp: null,
    apparmor: null,
    apparmorProfile: '',
    seccompProfilePath: '',
    ...over,
  };
}

export function podSecurityContext(over: Partial<LinuxSandboxSecurityContext> = {}): LinuxSandboxSecurityContext {
  return {
    namespaceOptions: null,
    selinuxOptions: null,
    runAsUser: null,
    runAsGroup: null,
    readonlyRootfs: false,
    supplementalGroups: [],
    supplementalGroupsPolicy: SupplementalGroupsPolicy.Merge,
    privileged: false,
    seccomp: null,
    apparmor: null,
    seccompProfilePath: '',
    ...over,
  };
}

/** A complete LinuxContainerResources: `over` and proto3 defaults elsewhere. */
export const resources = unlimitedResources;

export function mount(over: Partial<Mount> = {}): Mount {
  return {
    containerPath: '',
    hostPath: '',
    readonly: false,
    selinuxRelabel: false,
    propagation: MountPropagation.PROPAGATION_PRIVATE,
    uidMappings: [],
    gidMappings: [],
    recursiveReadOnly: false,
    image: null,
    imageSubPath: '',
    ...over,
  };
}

export function containerConfig(over: Partial<ContainerConfig> = {}, sc?: Partial<LinuxContainerSecurityContext>): ContainerConfig {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: { image: 'sha256:abc', annotations: {}, userSpecifiedImage: 'docker.io/library/app:1', runtimeHandler: '', imageRef: '' },
    command: [],
    args: [],
    workingDir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    logPath: '',
    stdin: false,
    stdinOnce: false,
    tty: false,
    linux: { resources: null, securityContext: securityContext(sc) },
    windows: null,
    CDIDevices: [],
    stopSignal: Signal.RUNTIME_DEFAULT,
    ...over,
  };
}

export function sandboxConfig(over: Partial<PodSandboxConfig> = {}, sc?: Partial<LinuxSandboxSecurityContext>, sysctls: Record<string, string> = {}): PodSandboxConfig {
  return {
    metadata: { name: 'pod', uid: 'uid-1', namespace: 'default', attempt: 0 },
    hostname: 'pod-host',
    logDirectory: '/var/log/pods/x',
    dnsConfig: null,
    portMappings: [],
    labels: {},
    annotations: {},
    linux: { cgroupParent: '/kubepods/pod1', securityContext: podSecurityContext(sc), sysctls, overhead: null, resources: null },
    windows: null,
    ...over,
  };
}

export const env = (key: string, value: string): { key: string; value: Uint8Array } => ({ key, value: new TextEncoder().encode(value) });

/** A scratch directory standing in for a mounted image rootfs. */
export async function fakeRootfs(files: Record<string, string> = {}): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-spec-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** readFileInRoot over a test directory without symlinks. */
export async function readFileInRoot(rootfs: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  try {
    const data = await readFile(join(rootfs, path));
    return data.subarray(0, maxBytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export const nullDevice: DeviceInfo = { type: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 };

export function baseInput(rootfs: string, over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    id: 'c0ffee',
    config: containerConfig({ command: ['/bin/app'] }),
    sandboxConfig: sandboxConfig(),
    image: { config: { config: {} } },
    rootfs,
    sandbox: {
      id: 'pod0',
      namespaces: { network: '/run/skiff/ns/net/pod0', ipc: '/run/skiff/ns/ipc/pod0', uts: '/run/skiff/ns/uts/pod0' },
      hostNetwork: false,
      hostIpc: false,
      hostPid: false,
      hostname: 'pod-host',
      files: { hostname: '/run/pod0/hostname', hosts: '/run/pod0/hosts', resolvConf: '/run/pod0/resolv.conf', shm: '/run/pod0/shm' },
      cgroupParent: '/kubepods/pod1',
    },
    cgroupManager: 'cgroupfs',
    defaultCapabilities: criDefaultCaps,
    ownOomScoreAdj: -1000,
    readFileInRoot,
    statDevice: async () => nullDevice,
    hostDevices: async (): Promise<HostDevice[]> => [],
    cgroupHost: { version: 1, memorySwap: true, hugetlb: true },
    allCapabilities: [...knownCapabilities],
    arch: 'amd64',
    kernel: '6.1.0',
    ensureHostDir: async () => undefined,
    ...over,
  };
}

/** For assert.rejects: an RpcError with this gRPC code whose message matches. */
export function rpcError(code: number, message: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    const e = err as RpcError;
    if (e?.name !== 'RpcError' || e.code !== code || !message.test(e.message)) {
      throw new Error(`expected RpcError ${code} ${message}, got ${e?.name} ${e?.code} ${e?.message}`);
    }
    return true;
  };
}

/** True when the ELF file has no program interpreter (statically linked). */
export async function isStaticElf(path: string): Promise<boolean> {
  try {
    const data = await readFile(path);
    if (data.readUInt32BE(0) !== 0x7f454c46 || data[4] !== 2) return false;
    const phoff = Number(data.readBigUInt64LE(0x20));
    const phentsize = data.readUInt16LE(0x36);
    const phnum = data.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) if (data.readUInt32LE(phoff + i * phentsize) === 3) return false;
    return true;
  } catch {
    return false;
  }
}
