// StopPodSandbox and RemovePodSandbox: idempotent, as the CRI requires.
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { removeContainer, stopContainer } from '../container/containers.js';
import { removePod, stopPod } from '../sandbox/pods.js';
import { invalidArgument, type RuntimeHandlers, type ServerContext, type UnaryHandler } from './rpc.js';

export function podStopHandlers(ctx: ServerContext): RuntimeHandlers {
  return { StopPodSandbox: stopPodSandbox(ctx), RemovePodSandbox: removePodSandbox(ctx) };
}

function stopPodSandbox(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['StopPodSandbox']> {
  return async (request) => {
    if (!request.podSandboxId) throw invalidArgument('pod_sandbox_id: required');
    const pod = ctx.pods.sandboxes.resolve(request.podSandboxId);
    // Unknown ids succeed: the kubelet retries stops of pods it no longer sees.
    if (pod) {
      const members = ctx.containers.containers.list().filter((c) => c.podId === pod.id);
      await Promise.all(members.map((c) => stopContainer(ctx.containers, c.id, 0)));
      await stopPod(ctx.pods, pod.id);
    }
    return {};
  };
}

function removePodSandbox(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['RemovePodSandbox']> {
  return async (request) => {
    if (!request.podSandboxId) throw invalidArgument('pod_sandbox_id: required');
    const pod = ctx.pods.sandboxes.resolve(request.podSandboxId);
    if (pod) {
      const members = ctx.containers.containers.list().filter((c) => c.podId === pod.id);
      await Promise.all(members.map((c) => removeContainer(ctx.containers, c.id)));
      await removePod(ctx.pods, pod.id);
    }
    return {};
  };
}
