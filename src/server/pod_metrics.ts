// ListMetricDescriptors and ListPodSandboxMetrics (StreamPodSandboxMetrics is in runtime_streams.ts).
import { metricDescriptors, podMetrics } from '../metrics/pod_metrics.js';
import type { Init, PodSandboxMetrics, RuntimeServiceMethods } from '../proto/cri.js';
import type { RuntimeHandlers, ServerContext, UnaryHandler } from './rpc.js';

export function podMetricsHandlers(ctx: ServerContext): RuntimeHandlers {
  return { ListMetricDescriptors: listMetricDescriptors(), ListPodSandboxMetrics: listPodSandboxMetrics(ctx) };
}

function listMetricDescriptors(): UnaryHandler<RuntimeServiceMethods['ListMetricDescriptors']> {
  return async () => ({ descriptors: metricDescriptors() });
}

function listPodSandboxMetrics(ctx: ServerContext): UnaryHandler<RuntimeServiceMethods['ListPodSandboxMetrics']> {
  return async () => ({ podMetrics: await allPodMetrics(ctx) });
}

/** Metrics of every ready pod and its containers that are not being created. */
export function allPodMetrics(ctx: ServerContext): Promise<Init<PodSandboxMetrics>[]> {
  const pods = ctx.pods.sandboxes.list().filter((pod) => pod.state === 'ready');
  return Promise.all(
    pods.map(async (pod) => {
      const members = ctx.containers.containers.list().filter((c) => c.podId === pod.id && c.phase !== 'creating');
      // Without the writable layers: walking each container's tree would be wasted on what metrics leave out.
      return podMetrics(pod, await ctx.stats.podStats(pod, members, false), members, Date.now() * 1e6);
    }),
  );
}
