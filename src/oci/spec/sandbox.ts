// buildSandboxSpec: the pod's infra (pause) process, run only when the pod
// shares one PID namespace. It holds that namespace as PID 1 and reaps
// orphans, so it gets as little as possible: a read-only root, no
// capabilities, no_new_privs, the pod's namespaces and cgroup.

import { isAbsolute } from 'node:path';
import { NamespaceMode, type PodSandboxConfig } from '../../proto/cri.js';
import { annotationKeys, containerTypes, mergeAnnotations } from './annotations.js';
import { defaultDeviceRules } from './devices.js';
import { absolutePath, invalidField } from './errors.js';
import { defaultMounts } from './mounts.js';
import { containerNamespaces, rejectUserNamespace } from './namespaces.js';
import { defaultPath } from './process.js';
import { cgroupsPath, nodeCgroupHost, oomScoreAdj, type CgroupHost, type CgroupManager } from './resources.js';
import { buildSeccomp } from './seccomp.js';
import { kernelPathRules } from './security.js';
import { podSysctls } from './sysctls.js';
import { ociVersion, type OciMount, type OciResources, type OciSpec } from './types.js';
import type { SandboxFacts } from './container.js';

/** The infra process asks the OOM killer to spare it, as CRI-O's does. */
export const infraOomScoreAdj = -998;

/** The pause image's own user (nobody's id on most distributions). */
const pauseUser = 65535;

export interface SandboxSpecInput {
  /** The pod sandbox id. */
  id: string;
  sandboxConfig: PodSandboxConfig;
  /** The infra's root: a mounted pause image, or an empty directory when `pauseBinary` is given. */
  rootfs: string;
  /** The infra command, e.g. ["/pause"]. */
  command: string[];
  /** A host file bind-mounted read-only at command[0]: a static pause binary needs no image. */
  pauseBinary?: string;
  /** The pod's facts; `namespaces.pid` is ignored (the infra process creates the PID namespace). */
  sandbox: Omit<SandboxFacts, 'id'>;
  cgroupManager: CgroupManager;
  ownOomScoreAdj: number;
  /** CPUs the infra process is pinned to ([pause] cpuset); "" = any. */
  cpuset?: string;
  cgroupHost?: CgroupHost;
  arch?: string;
  kernel?: string;
}

export async function buildSandboxSpec(input: SandboxSpecInput): Promise<{ spec: OciSpec }> {
  const { sandboxConfig, sandbox } = input;
  const scField = 'sandbox_config.linux.security_context';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(input.id)) throw invalidField('pod sandbox id', `${JSON.stringify(input.id)} is not a valid id`);
  if (!sandboxConfig.metadata) throw invalidField('sandbox_config.metadata', 'is required');
  if (input.command.length === 0 || input.command[0] === '') throw invalidField('pause command', 'must not be empty');
  const binaryMount = input.pauseBinary === undefined ? [] : [pauseBinaryMount(input.pauseBinary, input.command[0]!)];
  const podSc = sandboxConfig.linux?.securityContext ?? null;
  rejectUserNamespace(`${scField}.namespace_options`, podSc?.namespaceOptions?.usernsOptions);

  const cgroupHost = input.cgroupHost ?? (await nodeCgroupHost());
  const { namespaces, hostUts } = containerNamespaces(
    { ...sandbox, namespaces: { ...sandbox.namespaces, pid: undefined } },
    sandbox.hostPid ? NamespaceMode.NODE : NamespaceMode.CONTAINER,
    cgroupHost.version === 2,
  );
  const sysctl = podSysctls(sandboxConfig.linux?.sysctls ?? {}, sandbox);
  const { maskedPaths, readonlyPaths } = kernelPathRules([], [], false, scField);
  const uid = podSc?.runAsUser ? podSc.runAsUser.value : pauseUser;
  const gid = podSc?.runAsGroup ? podSc.runAsGroup.value : podSc?.runAsUser ? 0 : pauseUser;
  for (const [field, id] of [['run_as_user', uid], ['run_as_group', gid]] as const) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw invalidField(`${scField}.${field}`, `${id} is not a valid id`);
  }
  const noCapabilities = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
  const seccomp = await buildSeccomp({
    profile: podSc?.seccomp,
    legacyPath: podSc?.seccompProfilePath ?? '',
    privileged: false,
    capabilities: [],
    field: scField,
    arch: input.arch,
    kernel: input.kernel,
  });

  const resources: OciResources = { devices: defaultDeviceRules() };
  if (input.cpuset) resources.cpu = { cpus: input.cpuset };

  const meta = sandboxConfig.metadata;
  const annotations = mergeAnnotations(sandboxConfig.annotations, {
    [annotationKeys.containerType]: containerTypes.sandbox,
    [annotationKeys.sandboxId]: input.id,
    [annotationKeys.sandboxName]: meta.name,
    [annotationKeys.sandboxNamespace]: meta.namespace,
    [annotationKeys.sandboxUid]: meta.uid,
    [annotationKeys.sandboxLogDirectory]: sandboxConfig.logDirectory ?? '',
  });

  const spec: OciSpec = {
    ociVersion,
    process: {
      terminal: false,
      user: { uid, gid },
      args: [...input.command],
      env: [defaultPath],
      cwd: '/',
      capabilities: noCapabilities,
      noNewPrivileges: true,
      oomScoreAdj: oomScoreAdj('infra oom_score_adj', infraOomScoreAdj, input.ownOomScoreAdj),
    },
    root: { path: input.rootfs, readonly: true },
    ...(!hostUts && sandbox.hostname !== '' ? { hostname: sandbox.hostname } : {}),
    mounts: [...defaultMounts({ hostname: '', hosts: '', resolvConf: '', shm: sandbox.files.shm }, { privileged: false, readonlyRootfs: true }), ...binaryMount],
    annotations,
    linux: {
      namespaces,
      cgroupsPath: cgroupsPath(input.cgroupManager, sandbox.cgroupParent, input.id),
      resources,
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
      maskedPaths,
      readonlyPaths,
    },
  };
  return { spec };
}

/** The runtime makes the mount target itself (before the root turns read-only); exec must stay allowed. */
function pauseBinaryMount(source: string, destination: string): OciMount {
  const field = 'pause command';
  if (!isAbsolute(source)) throw invalidField('pause binary', `${JSON.stringify(source)} must be an absolute path`);
  return { destination: absolutePath(field, destination), type: 'bind', source, options: ['rbind', 'ro', 'nosuid', 'nodev'] };
}
