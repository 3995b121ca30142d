// PodSandboxStatus and ListPodSandbox.
import type { Init, PodSandbox, PodSandboxFilter, PodSandboxStatus, RuntimeServiceMethods } from '../proto/cri.js';
import { PodSandboxState } from '../proto/cri.js';
import type { SandboxRecord } from '../sandbox/pods.js';
import { invalidArgument, notFound, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function podStatusHandlers(ctx: ServerContext): RuntimeHandlers {
  return { PodSandboxStatus: podSandboxStatus(ctx), ListPodSandbox: listPodSandbox(ctx) };
}

function podSandboxStatus(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['PodSandboxStatus']> {
  return async (request) => {
    if (!request.podSandboxId) throw invalidArgument('pod_sandbox_id: required');
    const pod = ctx.pods.sandboxes.resolve(request.podSandboxId);
    if (!pod) throw notFound(`pod sandbox ${request.podSandboxId} not found`);
    const status = podSandboxStatusOf(pod);
    const info = request.verbose ? { info: JSON.stringify({ namespaces: pod.namespaces, files: pod.files, cgroupParent: pod.cgroupParent, runtimeHandler: pod.runtimeHandler, resources: pod.config.linux?.resources ?? null, overhead: pod.config.linux?.overhead ?? null }) } : {};
    return { status, info };
  };
}

/** A pod record as the CRI PodSandboxStatus (also carried by container events). */
export function podSandboxStatusOf(pod: SandboxRecord): Init<PodSandboxStatus> {
  const [first, ...rest] = pod.ips;
  return {
    id: pod.id,
    metadata: pod.config.metadata,
    state: stateOf(pod),
    createdAt: pod.createdAt,
    network: { ip: first ?? '', additionalIps: rest.map((ip) => ({ ip })) },
    linux: { namespaces: { options: pod.config.linux?.securityContext?.namespaceOptions ?? null } },
    labels: pod.config.labels,
    annotations: pod.config.annotations,
    runtimeHandler: pod.runtimeHandler,
  };
}

/** The pods a filter selects: for ListPodSandbox, ListPodSandboxStats and their Stream* forms alike. */
export function selectPods(ctx: ServerContext, filter: Partial<PodSandboxFilter> | null | undefined): SandboxRecord[] {
  return ctx.pods.sandboxes
    .list()
    .filter((pod) => pod.state !== 'creating')
    .filter((pod) => !filter?.id || pod.id.startsWith(filter.id))
    .filter((pod) => !filter?.state || stateOf(pod) === filter.state.state)
    .filter((pod) => Object.entries(filter?.labelSelector ?? {}).every(([k, v]) => pod.config.labels[k] === v));
}

function listPodSandbox(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ListPodSandbox']> {
  return async (request) => {
    const items = selectPods(ctx, request.filter).map((pod): Init<PodSandbox> => ({
        id: pod.id,
        metadata: pod.config.metadata,
        state: stateOf(pod),
        createdAt: pod.createdAt,
        labels: pod.config.labels,
        annotations: pod.config.annotations,
        runtimeHandler: pod.runtimeHandler,
      }));
    return { items };
  };
}

function stateOf(pod: SandboxRecord): PodSandboxState {
  return pod.state === 'ready' ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
}
