// What exec and attach act on: a running container, its runtime driver and
// its bundle; what port-forward acts on: a ready pod's network namespace.
import { status } from '@grpc/grpc-js';
import { containerRunDir, runtimeFor, type ContainerDeps, type ContainerRecord } from '../container/containers.js';
import type { OciRuntime } from '../oci/runtime/index.js';
import { invalidArgument, RpcError } from '../server/rpc.js';

export interface ExecTarget {
  record: ContainerRecord;
  runtime: OciRuntime;
  /** The container's bundle: config.json, and room for per-exec files. */
  bundle: string;
}

/** The container `id` names (a unique prefix will do), which must be running. */
export async function runningContainer(deps: ContainerDeps, id: string, what: string): Promise<ExecTarget> {
  if (!id) throw invalidArgument('container_id: required');
  const record = deps.containers.resolve(id);
  if (!record) throw new RpcError(status.NOT_FOUND, `container ${id} not found`);
  if (record.phase !== 'running') {
    throw new RpcError(status.FAILED_PRECONDITION, `${what}: container ${record.id} is not running (it is ${record.phase})`);
  }
  return { record, runtime: await runtimeFor(deps, record.runtimeHandler), bundle: containerRunDir(deps.config, record.id) };
}

/** The pinned network namespace of a ready pod; undefined for a pod on the host's network. */
export function podNetworkNamespace(deps: ContainerDeps, podId: string): string | undefined {
  if (!podId) throw invalidArgument('pod_sandbox_id: required');
  const pod = deps.sandboxes.resolve(podId);
  if (!pod) throw new RpcError(status.NOT_FOUND, `pod sandbox ${podId} not found`);
  if (pod.state !== 'ready') throw new RpcError(status.FAILED_PRECONDITION, `pod sandbox ${pod.id} is not ready`);
  if (pod.hostNetwork) return undefined;
  if (!pod.namespaces.net) throw new RpcError(status.FAILED_PRECONDITION, `pod sandbox ${pod.id} has no network namespace`);
  return pod.namespaces.net;
}
