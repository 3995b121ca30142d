// RunPodSandbox.
import { status } from '@grpc/grpc-js';
import { handlerProblem, resolveRuntimeHandler } from '../oci/runtime_handlers.js';
import { NamespaceMode, type RuntimeServiceMethods } from '../proto/cri.js';
import { runPod } from '../sandbox/pods.js';
import { RpcError, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function podRunHandlers(ctx: ServerContext): RuntimeHandlers {
  return { RunPodSandbox: runPodSandbox(ctx) };
}

function runPodSandbox(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['RunPodSandbox']> {
  return async (request) => {
    const hostNetwork = request.config?.linux?.securityContext?.namespaceOptions?.network === NamespaceMode.NODE;
    if (!hostNetwork) {
      const network = await ctx.pods.cni.status();
      if (!network.ready) throw new RpcError(status.FAILED_PRECONDITION, `network not ready: ${network.reason}`);
    }
    // A handler whose binary is gone would only fail at CreateContainer, after the pod was reported ready.
    const handler = await resolveRuntimeHandler(ctx.config, request.runtimeHandler || ctx.config.default_runtime);
    const problem = handler && handlerProblem(handler);
    if (problem) throw new RpcError(status.FAILED_PRECONDITION, `runtime_handler: ${problem}`);
    return { podSandboxId: await runPod(ctx.pods, request.config, request.runtimeHandler) };
  };
}
