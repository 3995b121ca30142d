// CreateContainer and StartContainer.
import { createContainer, startContainer } from '../container/containers.js';
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { invalidArgument, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function containerCreateHandlers(ctx: ServerContext): RuntimeHandlers {
  return { CreateContainer: create(ctx), StartContainer: start(ctx) };
}

function create(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['CreateContainer']> {
  return async (request) => ({ containerId: await createContainer(ctx.containers, request.podSandboxId, request.config, request.sandboxConfig) });
}

function start(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['StartContainer']> {
  return async (request) => {
    if (!request.containerId) throw invalidArgument('container_id: required');
    await startContainer(ctx.containers, request.containerId);
    return {};
  };
}
