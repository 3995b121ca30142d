// UpdateContainerResources and ReopenContainerLog.
import { reopenContainerLog, updateContainerResources } from '../container/containers.js';
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function containerUpdateHandlers(ctx: ServerContext): RuntimeHandlers {
  return { UpdateContainerResources: update(ctx), ReopenContainerLog: reopen(ctx) };
}

function update(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['UpdateContainerResources']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    await updateContainerResources(ctx.containers, request.containerId, request.linux);
    return {};
  };
}

function reopen(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ReopenContainerLog']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    await reopenContainerLog(ctx.containers, request.containerId);
    return {};
  };
}
