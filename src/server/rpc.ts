import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import type { ImagePuller } from '../image/pull.js';
import type { PullProgress } from '../image/pull_progress.js';
import type { ContainerDeps } from '../container/containers.js';
import type { StatsCollector } from '../metrics/stats_collector.js';
import type { PodDeps } from '../sandbox/pods.js';
import type { ImageStore } from '../storage/image_store.js';
import type { LayerStore } from '../storage/layer_store.js';
import type { StreamServer } from '../streaming/server.js';
import type { Init, ImageServiceMethods, RuntimeServiceMethods } from '../proto/cri.js';

/** A gRPC status to return: handlers throw it, the wiring sends it. */
export class RpcError extends Error {
  override name = 'RpcError';
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const invalidArgument = (message: string): RpcError => new RpcError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string): RpcError => new RpcError(status.NOT_FOUND, message);

/** What every handler may use. Concerns grow as separate members, not as methods here. */
export interface ServerContext {
  config: SkiffConfig;
  log: Logger;
  images: ImageStore;
  layers: LayerStore;
  puller: ImagePuller;
  progress: PullProgress;
  pods: PodDeps;
  containers: ContainerDeps;
  /** Container and pod stats, with the CPU-rate baselines they keep between calls. */
  stats: StatsCollector;
  /** The exec/attach/port-forward server: the Exec, Attach and PortForward RPCs hand out its URLs. */
  streaming: StreamServer;
}

interface MethodShape {
  kind: 'unary' | 'serverStream' | 'unsupported';
  request: unknown;
  response: unknown;
}

export type UnaryHandler<M extends MethodShape> = (request: M['request']) => Promise<Init<M['response']>>;

/** Writes one streamed reply; resolves when the transport can take more. */
export type StreamSink<M extends MethodShape> = (reply: Init<M['response']>) => Promise<void>;
export type ServerStreamHandler<M extends MethodShape> = (
  request: M['request'],
  send: StreamSink<M>,
  signal: AbortSignal,
) => Promise<void>;

type HandlerFor<M extends MethodShape> = M['kind'] extends 'unary' ? UnaryHandler<M> : ServerStreamHandler<M>;

export type RuntimeHandlers = { [K in keyof RuntimeServiceMethods]?: HandlerFor<RuntimeServiceMethods[K]> };
export type ImageHandlers = { [K in keyof ImageServiceMethods]?: HandlerFor<ImageServiceMethods[K]> };
