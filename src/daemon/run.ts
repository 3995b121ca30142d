import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { ContainerStreamingBackend } from '../exec/streaming_backend.js';
import { bindUnix, createGrpcServer } from '../server/grpc_server.js';
import { allServices } from '../server/handlers.js';
import { MetricsEndpoint } from '../metrics/endpoint.js';
import { RpcMetrics } from '../metrics/rpc_metrics.js';
import { StatsCollector } from '../metrics/stats_collector.js';
import { packageVersion } from '../package_info.js';
import { StreamServer } from '../streaming/server.js';
import { lockDaemonState } from './lock.js';
import { createLogger } from './logger.js';
import { openContainers } from './containers.js';
import { openPods, resumePods } from './pods.js';
import { openImageStorage } from './storage.js';

/** How long in-flight calls may run after SIGTERM before they are cut off. */
const shutdownGraceMs = 10_000;

/** Runs the daemon until SIGTERM or SIGINT; resolves with the exit code. */
export async function runDaemon(config: SkiffConfig): Promise<number> {
  const log = createLogger(config.log_level);
  // Opt-in for benchmarks only: the histogram samples on a timer, and an idle daemon must not wake.
  const loopDelay = process.env.SKIFF_EVENT_LOOP_STATS === '1' ? monitorEventLoopDelay({ resolution: 5 }) : undefined;
  loopDelay?.enable();
  await mkdir(config.root, { recursive: true, mode: 0o711 });
  await mkdir(config.runroot, { recursive: true, mode: 0o711 });
  await mkdir(dirname(config.listen), { recursive: true, mode: 0o755 });
  await lockDaemonState(config);
  await removeStaleSocket(config.listen);

  const storage = await openImageStorage(config, log);
  const pods = await openPods(config, log);
  const containers = await openContainers(config, log, pods, storage.images, storage.layers);
  await resumePods(pods, containers);
  const streaming = new StreamServer({
    address: config.streaming.address,
    port: config.streaming.port,
    backend: new ContainerStreamingBackend(containers),
    log: log.child({ component: 'streaming' }),
  });
  await streaming.start();
  const context = { config, log, ...storage, pods, containers, stats: new StatsCollector(containers, pods), streaming };
  const rpcMetrics = config.metrics.enable ? new RpcMetrics() : undefined;
  const metrics = rpcMetrics
    ? new MetricsEndpoint({ rpc: rpcMetrics, sandboxes: pods.sandboxes, containers: containers.containers, images: storage.images }, log.child({ component: 'metrics' }))
    : undefined;
  await metrics?.start(config.metrics.address, config.metrics.port);
  const server = createGrpcServer(log, allServices(context), rpcMetrics && ((method, code, seconds) => rpcMetrics.observe(method, code, seconds)));
  await bindUnix(server, config.listen);
  await chmod(config.listen, 0o660);
  log.info({ listen: config.listen, root: config.root, runroot: config.runroot, version: packageVersion }, 'skiff serving CRI');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'shutting down');
  if (loopDelay) {
    loopDelay.disable();
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    log.info({ eventLoopDelayMs: { max: ms(loopDelay.max), p99: ms(loopDelay.percentile(99)), mean: ms(loopDelay.mean) } }, 'event loop delay');
  }
  // Event streams never end by themselves: close them so in-flight calls can finish.
  pods.events?.close();
  await shutdown(server, log);
  await streaming.stop();
  await metrics?.stop();
  await unlink(config.listen).catch(() => undefined);
  log.info('stopped');
  log.flush();
  return 0;
}

/** Stops taking new calls, lets running ones finish, and cuts them off after the grace period. */
function shutdown(server: Server, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn({ graceMs: shutdownGraceMs }, 'in-flight calls still running; cancelling them');
      server.forceShutdown();
      resolve();
    }, shutdownGraceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** We hold the socket lock, so a socket file left here belongs to a daemon that died. */
async function removeStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  await unlink(path);
}
