// Per-RPC counts and latencies, fed by the gRPC wiring on every call.
import { family, Histogram } from './prometheus_text.js';

/** Seconds: CRI calls range from sub-millisecond lists to minute-long pulls. */
const latencyBounds = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class RpcMetrics {
  private readonly calls = new Map<string, { method: string; code: string; count: number }>();
  private readonly latency = new Histogram(latencyBounds);

  /** `method` is the full gRPC name (runtime.v1.RuntimeService/Version); `code` the status name. */
  observe(method: string, code: string, seconds: number): void {
    const key = `${method} ${code}`;
    const entry = this.calls.get(key) ?? { method, code, count: 0 };
    entry.count++;
    this.calls.set(key, entry);
    this.latency.observe({ method }, seconds);
  }

  render(): string {
    return (
      family(
        'skiff_rpc_requests_total',
        'counter',
        'CRI calls served, by method and gRPC status.',
        [...this.calls.values()].map((c) => ({ labels: { method: c.method, code: c.code }, value: c.count })),
      ) + family('skiff_rpc_duration_seconds', 'histogram', 'Time to serve a CRI call, by method.', this.latency.samples())
    );
  }
}
