// OCI runtime spec generation from CRI configs.

export { buildContainerSpec, type ContainerSpec, type ContainerSpecInput, type SandboxFacts } from './container.js';
export { buildSandboxSpec, type SandboxSpecInput } from './sandbox.js';
export { annotationKeys, containerTypes } from './annotations.js';
export { listHostDevices, statHostDevice, type DeviceInfo, type HostDevice, type ListDevices, type StatDevice } from './devices.js';
export { buildResources, detectCgroupHost, nodeCgroupHost, type CgroupHost, type CgroupManager } from './resources.js';
export { nodeCapabilities } from './capabilities.js';
export { normalizeSignal, signalName, signalNumber } from './signals.js';
export { podSysctls } from './sysctls.js';
export { specProblems } from './validate.js';
export type { PodFiles } from './mounts.js';
export type { PodNamespacePaths } from './namespaces.js';
export type { ReadFileInRoot } from './user.js';
export type * from './types.js';
