// StopContainer and RemoveContainer: idempotent, unknown ids succeed.
import { removeContainer, stopContainer } from '../container/containers.js';
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function containerStopHandlers(ctx: ServerContext): RuntimeHandlers {
  return { StopContainer: stop(ctx), RemoveContainer: remove(ctx) };
}

function stop(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['StopContainer']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    await stopContainer(ctx.containers, request.containerId, request.timeout);
    return {};
  };
}

function remove(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['RemoveContainer']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    await removeContainer(ctx.containers, request.containerId);
    return {};
  };
}
