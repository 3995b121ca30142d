// ContainerStats and ListContainerStats.
import type { ContainerStats, ContainerStatsFilter, Init, RuntimeServiceMethods } from '../proto/cri.js';
import { selectContainers } from './container_status.js';
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
  return Promise.all(selectContainers(ctx, filter).map((c) => ctx.stats.containerStats(c)));
}
