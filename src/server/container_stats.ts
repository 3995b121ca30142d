// ContainerStats and ListContainerStats.
import type { ContainerRecord } from '../container/containers.js';
import type { ContainerStats, ContainerStatsFilter, Init, RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, notFound, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function containerStatsHandlers(ctx: ServerContext): RuntimeHandlers {
  return { ContainerStats: containerStats(ctx), ListContainerStats: listContainerStats(ctx) };
}

function containerStats(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ContainerStats']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    const c = ctx.containers.containers.resolve(request.containerId);
    if (!c || c.phase === 'creating') throw notFound(`container ${request.containerId} not found`);
    return { stats: await ctx.stats.containerStats(c) };
  };
}

function listContainerStats(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ListContainerStats']> {
  return async (request) => ({ stats: await matchingContainerStats(ctx, request.filter) });
}

/** Stats of the containers the filter selects (also streamed by StreamContainerStats). */
export function matchingContainerStats(ctx: ServerContext, filter: ContainerStatsFilter | null | undefined): Promise<Init<ContainerStats>[]> {
  const selected = ctx.containers.containers
    .list()
    .filter((c) => c.phase !== 'creating')
    .filter((c) => !filter?.id || c.id.startsWith(filter.id))
    .filter((c) => !filter?.podSandboxId || c.podId.startsWith(filter.podSandboxId))
    .filter((c) => hasLabels(c, filter?.labelSelector));
  return Promise.all(selected.map((c) => ctx.stats.containerStats(c)));
}

function hasLabels(c: ContainerRecord, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => c.config.labels[k] === v);
}
