// Which namespaces a container creates, joins or shares with the host.
// The pod's network, IPC and UTS namespaces are pinned files made when the
// pod starts; the PID namespace follows the container's NamespaceMode; every
// container gets its own mount namespace.

import { NamespaceMode, type NamespaceOption, type UserNamespace } from '../../proto/cri.js';
import { unsatisfiable, unsupported } from './errors.js';
import type { OciNamespace } from './types.js';

export interface PodNamespacePaths {
  network?: string;
  ipc?: string;
  uts?: string;
  /** The pod's shared PID namespace, or (for TARGET) the target container's. */
  pid?: string;
}

export interface PodNamespaceModes {
  namespaces: PodNamespacePaths;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
}

export interface NamespacesResult {
  namespaces: OciNamespace[];
  /** The container shares the host's UTS namespace, so it must not set a hostname. */
  hostUts: boolean;
}

/** Joins `path` when given, else creates a new namespace of that type. */
function podOwned(type: OciNamespace['type'], path: string | undefined): OciNamespace {
  return path !== undefined && path !== '' ? { type, path } : { type };
}

/**
 * The container's namespaces. `pidMode` comes from the container's
 * NamespaceOption; `cgroupNamespace` gives it a private cgroup view (v2).
 */
export function containerNamespaces(pod: PodNamespaceModes, pidMode: NamespaceMode, cgroupNamespace: boolean): NamespacesResult {
  const field = 'config.linux.security_context.namespace_options';
  const namespaces: OciNamespace[] = [{ type: 'mount' }];
  if (!pod.hostNetwork) namespaces.push(podOwned('network', pod.namespaces.network));
  if (!pod.hostIpc) namespaces.push(podOwned('ipc', pod.namespaces.ipc));
  // Kubernetes gives host-network pods the node's hostname, i.e. its UTS namespace.
  if (!pod.hostNetwork) namespaces.push(podOwned('uts', pod.namespaces.uts));
  switch (pidMode) {
    case NamespaceMode.CONTAINER:
      namespaces.push({ type: 'pid' });
      break;
    case NamespaceMode.NODE:
      break;
    case NamespaceMode.POD:
      if (pod.namespaces.pid === undefined || pod.namespaces.pid === '') {
        throw unsatisfiable(`${field}.pid`, 'POD mode needs the pod\'s shared PID namespace, and the pod has none');
      }
      namespaces.push({ type: 'pid', path: pod.namespaces.pid });
      break;
    case NamespaceMode.TARGET:
      if (pod.namespaces.pid === undefined || pod.namespaces.pid === '') {
        throw unsatisfiable(`${field}.target_id`, 'the target container\'s PID namespace is not available');
      }
      namespaces.push({ type: 'pid', path: pod.namespaces.pid });
      break;
    default:
      throw unsatisfiable(`${field}.pid`, `unknown namespace mode ${String(pidMode)}`);
  }
  if (cgroupNamespace) namespaces.push({ type: 'cgroup' });
  return { namespaces, hostUts: pod.hostNetwork };
}

/** The PID mode of a container: its own NamespaceOption, else what the pod implies. */
export function containerPidMode(options: NamespaceOption | null | undefined, pod: PodNamespaceModes): NamespaceMode {
  if (options) return options.pid;
  if (pod.hostPid) return NamespaceMode.NODE;
  // A pod with a shared PID namespace (its infra process holds it) shares it with every container.
  return pod.namespaces.pid ? NamespaceMode.POD : NamespaceMode.CONTAINER;
}

/** User namespaces are not supported yet; asking for one with mappings is an error, not a silent no-op. */
export function rejectUserNamespace(field: string, userns: UserNamespace | null | undefined): void {
  if (!userns) return;
  if (userns.mode === NamespaceMode.POD && ((userns.uids?.length ?? 0) > 0 || (userns.gids?.length ?? 0) > 0)) {
    throw unsupported(`${field}.userns_options`, 'user namespaces are not supported by skiff yet (use hostUsers: true)');
  }
}
