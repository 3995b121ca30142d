// UpdatePodSandboxResources.
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { updatePodResources } from '../sandbox/pod_resources.js';
import { invalidArgument, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function podUpdateHandlers(ctx: ServerContext): RuntimeHandlers {
  return { UpdatePodSandboxResources: update(ctx) };
}

function update(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['UpdatePodSandboxResources']> {
  return async (request) => {
    if (!request.podSandboxId) throw invalidArgument('pod_sandbox_id: required');
    await updatePodResources(ctx.pods, request.podSandboxId, request.resources, request.overhead);
    return {};
  };
}
