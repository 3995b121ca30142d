// StreamPodSandboxes, StreamContainers, StreamContainerStats,
// StreamPodSandboxStats and StreamPodSandboxMetrics: the items of their List*
// counterparts, in batches that each stay well under the reply size limit.
import type { RuntimeServiceMethods } from '../proto/cri.js';
import { matchingContainerStats } from './container_stats.js';
import { containerStatusHandlers } from './container_status.js';
import { allPodMetrics } from './pod_metrics.js';
import { matchingPodStats } from './pod_stats.js';
import { podStatusHandlers } from './pod_status.js';
import type { RuntimeHandlers, ServerContext, ServerStreamHandler } from './rpc.js';
import { sendInBatches } from './stream_batches.js';

export function runtimeStreamHandlers(ctx: ServerContext): RuntimeHandlers {
  return {
    StreamPodSandboxes: streamPodSandboxes(ctx),
    StreamContainers: streamContainers(ctx),
    StreamContainerStats: streamContainerStats(ctx),
    StreamPodSandboxStats: streamPodSandboxStats(ctx),
    StreamPodSandboxMetrics: streamPodSandboxMetrics(ctx),
  };
}

// The List* handlers are the one definition of what a filter selects and how an item looks.
function streamPodSandboxes(ctx: ServerContext): ServerStreamHandler<RuntimeServiceMethods['StreamPodSandboxes']> {
  const list = podStatusHandlers(ctx).ListPodSandbox!;
  return async (request, send, signal) => {
    const { items } = await list({ filter: request.filter });
    await sendInBatches(items ?? [], (podSandboxes) => send({ podSandboxes }), signal);
  };
}

function streamContainers(ctx: ServerContext): ServerStreamHandler<RuntimeServiceMethods['StreamContainers']> {
  const list = containerStatusHandlers(ctx).ListContainers!;
  return async (request, send, signal) => {
    const { containers } = await list({ filter: request.filter });
    await sendInBatches(containers ?? [], (batch) => send({ containers: batch }), signal);
  };
}

function streamContainerStats(ctx: ServerContext): ServerStreamHandler<RuntimeServiceMethods['StreamContainerStats']> {
  return async (request, send, signal) => {
    const stats = await matchingContainerStats(ctx, request.filter);
    await sendInBatches(stats, (containerStats) => send({ containerStats }), signal);
  };
}

function streamPodSandboxStats(ctx: ServerContext): ServerStreamHandler<RuntimeServiceMethods['StreamPodSandboxStats']> {
  return async (request, send, signal) => {
    const stats = await matchingPodStats(ctx, request.filter);
    await sendInBatches(stats, (podSandboxStats) => send({ podSandboxStats }), signal);
  };
}

function streamPodSandboxMetrics(ctx: ServerContext): ServerStreamHandler<RuntimeServiceMethods['StreamPodSandboxMetrics']> {
  return async (_request, send, signal) => {
    const metrics = await allPodMetrics(ctx);
    await sendInBatches(metrics, (podSandboxMetrics) => send({ podSandboxMetrics }), signal);
  };
}
