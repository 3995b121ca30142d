// buildContainerSpec: a CRI CreateContainer request (plus what skiff knows
// about the pod, the image and the node) → the OCI config.json the runtime
// runs. Each concern lives in its own module; this file only orders them.

import type { ContainerConfig, PodSandboxConfig } from '../../proto/cri.js';
import { annotationKeys, containerTypes, mergeAnnotations } from './annotations.js';
import { buildCapabilities, nodeCapabilities } from './capabilities.js';
import { buildDevices, type ListDevices, type StatDevice } from './devices.js';
import { invalidField, unsupported } from './errors.js';
import { imageRuntimeConfig } from './image_config.js';
import { buildMounts, type PodFiles } from './mounts.js';
import { containerNamespaces, containerPidMode, rejectUserNamespace, type PodNamespacePaths } from './namespaces.js';
import { processArgs, processCwd, processEnv } from './process.js';
import { buildResources, cgroupsPath, nodeCgroupHost, oomScoreAdj, type CgroupHost, type CgroupManager } from './resources.js';
import { buildSeccomp } from './seccomp.js';
import { checkAppArmor, kernelPathRules } from './security.js';
import { stopSignal as resolveStopSignal } from './signals.js';
import { podSysctls } from './sysctls.js';
import { ociVersion, type OciSpec } from './types.js';
import { resolveUser, type ReadFileInRoot } from './user.js';

/** What skiff knows about the pod a container joins. */
export interface SandboxFacts {
  id: string;
  /** Paths of the pod's pinned namespaces; absent = a new one (or the host's, per the host* flags). */
  namespaces: PodNamespacePaths;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  hostname: string;
  files: PodFiles;
  /** The pod cgroup (cgroupfs path style, or a slice name under systemd). */
  cgroupParent: string;
}

export interface ContainerSpecInput {
  id: string;
  config: ContainerConfig;
  sandboxConfig: PodSandboxConfig;
  /** The image config JSON (`config.Env`, `config.Cmd`, `config.Entrypoint`, ...). */
  image: { config: Record<string, unknown> };
  /** The mounted rootfs on the host. */
  rootfs: string;
  sandbox: SandboxFacts;
  cgroupManager: CgroupManager;
  /** The runtime's default capabilities (names with or without CAP_). */
  defaultCapabilities: string[];
  /** The daemon's own oom_score_adj: requests below it are raised to it. */
  ownOomScoreAdj: number;
  /** Reads a file of the image, resolved inside the rootfs; undefined when absent. */
  readFileInRoot: ReadFileInRoot;
  statDevice: StatDevice;
  hostDevices: ListDevices;

  // Node facts, detected on first use when not given (tests pin them).
  cgroupHost?: CgroupHost;
  /** What "ALL" capabilities means here (default: the daemon's bounding set). */
  allCapabilities?: string[];
  /** Go architecture and kernel release for the seccomp profile. */
  arch?: string;
  kernel?: string;

  // Handler and daemon settings.
  /** pids.max for every container; 0/undefined = unlimited. */
  pidsLimit?: number;
  privilegedWithoutHostDevices?: boolean;
  /** Creates a missing bind-mount source (default mkdir -p). */
  ensureHostDir?: (path: string) => Promise<void>;
}

export interface ContainerSpec {
  spec: OciSpec;
  user: { uid: number; gid: number; additionalGids: number[] };
  stopSignal: string;
}

const safeId = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export async function buildContainerSpec(input: ContainerSpecInput): Promise<ContainerSpec> {
  const { config, sandboxConfig, sandbox } = input;
  if (!safeId.test(input.id)) throw invalidField('container id', `${JSON.stringify(input.id)} is not a valid id`);
  if (!safeId.test(sandbox.id)) throw invalidField('pod_sandbox_id', `${JSON.stringify(sandbox.id)} is not a valid id`);
  if (!config.metadata) throw invalidField('config.metadata', 'is required');
  if (config.metadata.name === '') throw invalidField('config.metadata.name', 'must not be empty');
  if (!config.image || (config.image.image === '' && config.image.imageRef === '')) throw invalidField('config.image', 'is required');
  if (!sandboxConfig.metadata) throw invalidField('sandbox_config.metadata', 'is required');
  if ((config.CDIDevices?.length ?? 0) > 0) throw unsupported('config.CDI_devices', 'CDI devices are not supported by skiff yet');

  const scField = 'config.linux.security_context';
  const sc = config.linux?.securityContext ?? null;
  const podSc = sandboxConfig.linux?.securityContext ?? null;
  const privileged = sc?.privileged ?? false;
  if (privileged && !podSc?.privileged) {
    throw invalidField(`${scField}.privileged`, 'a privileged container needs a privileged pod (sandbox_config.linux.security_context.privileged)');
  }
  rejectUserNamespace('sandbox_config.linux.security_context.namespace_options', podSc?.namespaceOptions?.usernsOptions);
  rejectUserNamespace(`${scField}.namespace_options`, sc?.namespaceOptions?.usernsOptions);

  const [cgroupHost, allCapabilities] = await Promise.all([
    input.cgroupHost ?? nodeCgroupHost(),
    input.allCapabilities ?? nodeCapabilities(),
  ]);

  // Checks that need no I/O come first, so a bad request fails before anything is touched.
  const image = imageRuntimeConfig(input.image.config);
  const stopSignal = resolveStopSignal(config.stopSignal ?? 0, image.stopSignal);
  const args = processArgs(config.command ?? [], config.args ?? [], image);
  const env = processEnv(image, config.envs ?? [], sandbox.hostname);
  const cwd = processCwd(config.workingDir ?? '', image);
  const capabilities = buildCapabilities({
    capabilities: sc?.capabilities,
    privileged,
    defaults: input.defaultCapabilities,
    all: allCapabilities,
    field: `${scField}.capabilities`,
  });
  checkAppArmor(sc?.apparmor, sc?.apparmorProfile ?? '', scField);
  const { maskedPaths, readonlyPaths } = kernelPathRules(sc?.maskedPaths ?? [], sc?.readonlyPaths ?? [], privileged, scField);
  const sysctl = podSysctls(sandboxConfig.linux?.sysctls ?? {}, sandbox);
  const { namespaces, hostUts } = containerNamespaces(sandbox, containerPidMode(sc?.namespaceOptions, sandbox), cgroupHost.version === 2);
  const resourcesField = 'config.linux.resources';
  const requested = config.linux?.resources ?? null;
  const resources = buildResources(requested, {
    host: cgroupHost,
    field: resourcesField,
    pidsLimit: input.pidsLimit,
  });
  const oomAdj = oomScoreAdj(`${resourcesField}.oom_score_adj`, requested?.oomScoreAdj ?? 0, input.ownOomScoreAdj);
  const cgroups = cgroupsPath(input.cgroupManager, sandbox.cgroupParent, input.id);

  // Then what reads the image or the node.
  const user = await resolveUser({ securityContext: sc, imageUser: image.user, rootfs: input.rootfs, readFileInRoot: input.readFileInRoot });
  env.setDefault('HOME', user.home);
  const seccomp = await buildSeccomp({
    profile: sc?.seccomp,
    legacyPath: sc?.seccompProfilePath ?? '',
    privileged,
    capabilities: capabilities.bounding,
    field: scField,
    arch: input.arch,
    kernel: input.kernel,
  });
  const devices = await buildDevices({
    devices: config.devices ?? [],
    privileged,
    privilegedWithoutHostDevices: input.privilegedWithoutHostDevices ?? false,
    statDevice: input.statDevice,
    hostDevices: input.hostDevices,
  });
  resources.devices = devices.rules;

  // Last, the mounts: they create missing host directories.
  const readonlyRootfs = sc?.readonlyRootfs ?? false;
  const { mounts, rootfsPropagation } = await buildMounts({
    mounts: config.mounts ?? [],
    files: sandbox.files,
    privileged,
    readonlyRootfs,
    ensureHostDir: input.ensureHostDir,
  });

  const meta = sandboxConfig.metadata;
  const annotations = mergeAnnotations(config.annotations, {
    [annotationKeys.containerType]: containerTypes.container,
    [annotationKeys.sandboxId]: sandbox.id,
    [annotationKeys.sandboxName]: meta.name,
    [annotationKeys.sandboxNamespace]: meta.namespace,
    [annotationKeys.sandboxUid]: meta.uid,
    [annotationKeys.containerName]: config.metadata.name,
    [annotationKeys.imageName]: config.image.userSpecifiedImage || config.image.image,
  });

  const spec: OciSpec = {
    ociVersion,
    process: {
      terminal: config.tty ?? false,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}) },
      args,
      env: env.toList(),
      cwd,
      capabilities,
      noNewPrivileges: sc?.noNewPrivs ?? false,
      oomScoreAdj: oomAdj,
    },
    root: { path: input.rootfs, readonly: readonlyRootfs },
    ...(!hostUts && sandbox.hostname !== '' ? { hostname: sandbox.hostname } : {}),
    mounts,
    annotations,
    linux: {
      namespaces,
      devices: devices.devices,
      cgroupsPath: cgroups,
      resources,
      ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
      ...(seccomp ? { seccomp } : {}),
      ...(rootfsPropagation ? { rootfsPropagation } : {}),
      maskedPaths,
      readonlyPaths,
    },
  };
  return {
    spec,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    stopSignal,
  };
}
