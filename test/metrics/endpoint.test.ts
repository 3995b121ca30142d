import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Histogram, family } from '../../src/metrics/prometheus_text.js';
import { scratchDir, startDaemon, type RunningDaemon } from '../helpers/daemon.js';

describe('Prometheus text format', () => {
  it('escapes label values and renders cumulative histogram buckets', () => {
    const h = new Histogram([0.1, 1]);
    h.observe({ method: 'a"b' }, 0.05);
    h.observe({ method: 'a"b' }, 0.5);
    h.observe({ method: 'a"b' }, 5);
    const text = family('x_seconds', 'histogram', 'help', h.samples());
    assert.match(text, /^# HELP x_seconds help\n# TYPE x_seconds histogram\n/);
    assert.match(text, /x_seconds_bucket\{method="a\\"b",le="0\.1"\} 1\n/);
    assert.match(text, /x_seconds_bucket\{method="a\\"b",le="1"\} 2\n/);
    assert.match(text, /x_seconds_bucket\{method="a\\"b",le="\+Inf"\} 3\n/);
    assert.match(text, /x_seconds_sum\{method="a\\"b"\} 5\.55\n/);
    assert.match(text, /x_seconds_count\{method="a\\"b"\} 3\n/);
  });
});

describe('metrics endpoint of the daemon', () => {
  let daemon: RunningDaemon;
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let url: string;

  before(async () => {
    scratch = await scratchDir();
    daemon = await startDaemon(scratch.dir, ['--enable-metrics', '--metrics-address', '127.0.0.1', '--metrics-port', '0']);
    const line = daemon
      .stderr()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; port?: number })
      .find((l) => l.msg === 'metrics endpoint listening');
    assert.ok(line?.port, `no metrics endpoint line in the daemon log: ${daemon.stderr()}`);
    url = `http://127.0.0.1:${line.port}`;
  });
  after(async () => {
    await daemon.stop();
    await scratch.cleanup();
  });

  const callsOf = (text: string, method: string, code: string): number => {
    const m = new RegExp(`^skiff_rpc_requests_total\\{method="${method.replace(/\./g, '\\.')}",code="${code}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('counts CRI calls by method and status, with latencies', async () => {
    const version = 'runtime.v1.RuntimeService/Version';
    const before = callsOf(await (await fetch(`${url}/metrics`)).text(), version, 'OK');
    await daemon.client.runtime.Version!({});
    await daemon.client.runtime.Version!({});
    await assert.rejects(daemon.client.runtime.ContainerStatus!({ containerId: 'nope' }));
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(callsOf(text, version, 'OK'), before + 2);
    assert.equal(callsOf(text, 'runtime.v1.RuntimeService/ContainerStatus', 'NOT_FOUND'), 1);
    assert.match(text, /^skiff_rpc_duration_seconds_count\{method="runtime\.v1\.RuntimeService\/Version"\} [1-9]\d*$/m);
    assert.match(text, /^skiff_images 0$/m);
    const rss = /^skiff_process_resident_memory_bytes (\d+)$/m.exec(text);
    assert.ok(rss && Number(rss[1]) > 10 * 1024 * 1024);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    assert.equal((await fetch(`${url}/other`)).status, 404);
    assert.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
  });
});
