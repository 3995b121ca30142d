// PodSandboxStats and ListPodSandboxStats.
import type { Init, PodSandboxStats, PodSandboxStatsFilter, RuntimeServiceMethods } from '../proto/cri.js';
import type { SandboxRecord } from '../sandbox/pods.js';
import { selectPods } from './pod_status.js';
import { invalidArgument, notFound, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function podStatsHandlers(ctx: ServerContext): RuntimeHandlers {
  return { PodSandboxStats: podSandboxStats(ctx), ListPodSandboxStats: listPodSandboxStats(ctx) };
}

function podSandboxStats(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['PodSandboxStats']> {
  return async (request) => {
    if (!request.podSandboxId) throw invalidArgument('pod_sandbox_id: required');
    const pod = ctx.pods.sandboxes.resolve(request.podSandboxId);
    if (!pod || pod.state === 'creating') throw notFound(`pod sandbox ${request.podSandboxId} not found`);
    return { stats: await statsOf(ctx, pod) };
  };
}

function listPodSandboxStats(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ListPodSandboxStats']> {
  return async (request) => ({ stats: await matchingPodStats(ctx, request.filter) });
}

/** Stats of the pods the filter selects (also streamed by StreamPodSandboxStats). */
export function matchingPodStats(ctx: ServerContext, filter: PodSandboxStatsFilter | null | undefined): Promise<Init<PodSandboxStats>[]> {
  return Promise.all(selectPods(ctx, filter).map((pod) => statsOf(ctx, pod)));
}

function statsOf(ctx: ServerContext, pod: SandboxRecord): Promise<Init<PodSandboxStats>> {
  const members = ctx.containers.containers.list().filter((c) => c.podId === pod.id && c.phase !== 'creating');
  return ctx.stats.podStats(pod, members);
}
