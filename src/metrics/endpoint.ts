// The Prometheus endpoint (`[metrics] enable`): GET /metrics answers with
// CRI call counts and latencies, pods, containers and images by state, and
// the daemon's own memory. Everything is read at scrape time, so an idle
// daemon does no work for it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ContainerRecord } from '../container/containers.js';
import type { SandboxRecord } from '../sandbox/pods.js';
import type { RecordStore } from '../state/record_store.js';
import type { ImageStore } from '../storage/image_store.js';
import { family, type Sample } from './prometheus_text.js';
import type { RpcMetrics } from './rpc_metrics.js';

export interface MetricsSources {
  rpc: RpcMetrics;
  sandboxes: RecordStore<SandboxRecord>;
  containers: RecordStore<ContainerRecord>;
  images: ImageStore;
}

const contentType = 'text/plain; version=0.0.4; charset=utf-8';

function countBy<T>(items: T[], key: (item: T) => string, label: string): Sample[] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].map(([value, n]) => ({ labels: { [label]: value }, value: n }));
}

function renderMetrics(sources: MetricsSources): string {
  const memory = process.memoryUsage();
  return [
    sources.rpc.render(),
    family('skiff_pods', 'gauge', 'Pod sandboxes known to skiff, by state.', countBy(sources.sandboxes.list(), (p) => p.state, 'state')),
    family('skiff_containers', 'gauge', 'Containers known to skiff, by state.', countBy(sources.containers.list(), (c) => c.phase, 'state')),
    family('skiff_images', 'gauge', 'Images in the store.', [{ labels: {}, value: sources.images.list().length }]),
    family('skiff_process_resident_memory_bytes', 'gauge', 'Resident set size of the daemon.', [{ labels: {}, value: memory.rss }]),
    family('skiff_process_heap_used_bytes', 'gauge', 'V8 heap in use by the daemon.', [{ labels: {}, value: memory.heapUsed }]),
    family('skiff_process_uptime_seconds', 'gauge', 'Seconds since the daemon started.', [{ labels: {}, value: Math.round(process.uptime()) }]),
  ].join('');
}

export class MetricsEndpoint {
  private server: Server | undefined;

  constructor(
    private readonly sources: MetricsSources,
    private readonly log: Logger,
  ) {}

  /** Binds address:port; resolves with the port actually bound. */
  async start(address: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      const body = renderMetrics(this.sources);
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const bound = (server.address() as AddressInfo).port;
    this.log.info({ address, port: bound }, 'metrics endpoint listening');
    return bound;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
