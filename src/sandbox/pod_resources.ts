// UpdatePodSandboxResources: the pod-level resources after the kubelet
// resized a pod in place. The kubelet resizes the cgroups it made itself;
// skiff resizes the pod cgroup it made (for a pod whose cgroup_parent did
// not exist yet), and keeps the new figures in the pod's record either way.

import { status } from '@grpc/grpc-js';
import { nodeCgroupLayout } from '../cgroups/hierarchies.js';
import { applyPodResources, podResources } from '../cgroups/pod_cgroup.js';
import { buildResources, nodeCgroupHost } from '../oci/spec/index.js';
import type { LinuxContainerResources, LinuxPodSandboxConfig } from '../proto/cri.js';
import { notFound, RpcError } from '../server/rpc.js';
import type { PodDeps } from './pods.js';

export async function updatePodResources(
  deps: PodDeps,
  podId: string,
  resources: LinuxContainerResources | null,
  overhead: LinuxContainerResources | null,
): Promise<void> {
  const pod = deps.sandboxes.resolve(podId);
  if (!pod) throw notFound(`pod sandbox ${podId} not found`);
  const host = await nodeCgroupHost();
  // Each part must make sense by itself; the cgroup gets their sum.
  buildResources(resources, { host, field: 'resources' });
  buildResources(overhead, { host, field: 'overhead' });
  const total = podResources(resources, overhead);
  const ours = pod.cgroupCreated && pod.state === 'ready' && deps.config.cgroup_manager === 'cgroupfs';
  if (total && ours) {
    try {
      await applyPodResources(await nodeCgroupLayout(), pod.cgroupPath, buildResources(total, { host, field: 'resources' }));
    } catch (err) {
      // The kernel refuses, say, a memory limit below what the pod uses now. The files
      // written before the refused one keep their new values; the record keeps the old
      // figures, and the kubelet retries the resize.
      throw new RpcError(status.FAILED_PRECONDITION, `pod sandbox ${pod.id}: ${(err as Error).message}`, { cause: err });
    }
  }
  await deps.sandboxes.update(pod.id, (r) => {
    const linux: LinuxPodSandboxConfig = { cgroupParent: '', securityContext: null, sysctls: {}, ...r.config.linux, resources, overhead };
    return { ...r, config: { ...r.config, linux } };
  });
}
