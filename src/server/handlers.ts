// Which file serves which RPC. Methods absent here answer UNIMPLEMENTED.
import { imageFsInfoHandlers } from './image_fs_info.js';
import { imagePullHandlers } from './image_pull.js';
import { imageRemoveHandlers } from './image_remove.js';
import { imageStatusHandlers } from './image_status.js';
import { ImageServiceName, RuntimeServiceName } from '../proto/cri.js';
import type { ServiceHandlers } from './grpc_server.js';
import { pullProgressHandlers } from './pull_progress_watch.js';
import type { ImageHandlers, RuntimeHandlers, ServerContext } from './rpc.js';
import { containerCreateHandlers } from './container_create.js';
import { containerEventHandlers } from './container_events.js';
import { containerExecSyncHandlers } from './container_exec_sync.js';
import { containerStatsHandlers } from './container_stats.js';
import { containerStatusHandlers } from './container_status.js';
import { containerStreamHandlers } from './container_stream.js';
import { containerStopHandlers } from './container_stop.js';
import { containerUpdateHandlers } from './container_update.js';
import { podRunHandlers } from './pod_run.js';
import { podMetricsHandlers } from './pod_metrics.js';
import { podStatsHandlers } from './pod_stats.js';
import { podStatusHandlers } from './pod_status.js';
import { podStopHandlers } from './pod_stop.js';
import { podUpdateHandlers } from './pod_update.js';
import { runtimeInfoHandlers } from './runtime_info.js';
import { runtimeStreamHandlers } from './runtime_streams.js';

export function runtimeHandlers(ctx: ServerContext): RuntimeHandlers {
  return {
    ...runtimeInfoHandlers(ctx),
    ...podRunHandlers(ctx),
    ...podStopHandlers(ctx),
    ...podStatusHandlers(ctx),
    ...podUpdateHandlers(ctx),
    ...containerCreateHandlers(ctx),
    ...containerStopHandlers(ctx),
    ...containerStatusHandlers(ctx),
    ...containerUpdateHandlers(ctx),
    ...containerExecSyncHandlers(ctx),
    ...containerStatsHandlers(ctx),
    ...podStatsHandlers(ctx),
    ...podMetricsHandlers(ctx),
    ...containerEventHandlers(ctx),
    ...runtimeStreamHandlers(ctx),
    ...containerStreamHandlers(ctx),
  };
}

export function imageHandlers(ctx: ServerContext): ImageHandlers {
  return {
    ...imagePullHandlers(ctx),
    ...imageStatusHandlers(ctx),
    ...imageRemoveHandlers(ctx),
    ...imageFsInfoHandlers(ctx),
  };
}

/** Every service the daemon serves on its socket: the CRI's two, and skiff's own. */
export function allServices(ctx: ServerContext): ServiceHandlers[] {
  return [
    { name: RuntimeServiceName, handlers: runtimeHandlers(ctx) },
    { name: ImageServiceName, handlers: imageHandlers(ctx) },
    { name: 'skiff.v1.PullProgress', handlers: pullProgressHandlers(ctx) },
  ];
}
