// Port-forward benchmark: bytes per second through the daemon's streaming
// server against a direct TCP connection to the pod's IP, same run, same
// payload, both directions. The forwarded paths are driven by crictl's
// port-forward (client-go's SPDY client, as kubectl uses it; and its
// WebSocket transport, SPDY tunnelled in WebSocket messages); the pod end
// is busybox dd behind nc, a source and a sink. Prints a table of MB/s and
// the daemon's CPU time per GB moved.
//
//   node dist/bench/port_forward.js     (root; runc, conmon, /usr/lib/cni, docker-registry, crictl)
//
// Environment: BENCH_RUNS (5) runs of each, interleaved; BENCH_MIB (256) payload per run.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerConfig, podConfig, startRuntimeDaemon } from '../test/helpers/runtime_daemon.js';
import { execProblem } from '../test/exec/fixtures.js';
import { median, printTable, timed, type Figure } from './report.js';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const mib = Number(process.env.BENCH_MIB ?? 256);
const payload = mib * 1024 * 1024;
const crictl = process.env.CRICTL ?? '/usr/local/bin/crictl';
const sourcePort = 9001;
const sinkPort = 9002;
/** Linux reports CPU times in ticks of 1/100 s (USER_HZ). */
const ticksPerSecond = 100;

interface Endpoint {
  host: string;
  port: number;
}

interface Path {
  name: string;
  /** Where a connection to the pod's source and sink ports is made. */
  source: Endpoint;
  sink: Endpoint;
  /** Processes of the forwarding client (crictl), whose CPU time is reported too. */
  clientPids: number[];
}

/** Reads a connection to its end; resolves with the byte count. */
function download(to: Endpoint): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const s = connect(to.port, to.host);
    s.on('data', (c: Buffer) => (bytes += c.length));
    s.once('error', reject);
    s.once('close', () => resolve(bytes));
  });
}

const block = Buffer.alloc(1024 * 1024);

/** Sends `payload` bytes with backpressure, half-closes, and waits until the pod side has read it all and closed. */
function upload(to: Endpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(to.port, to.host);
    s.once('error', reject);
    s.once('close', () => resolve());
    s.resume();
    let sent = 0;
    const pump = (): void => {
      while (sent < payload) {
        const n = Math.min(block.length, payload - sent);
        sent += n;
        if (!s.write(n === block.length ? block : block.subarray(0, n))) return void s.once('drain', pump);
      }
      s.end();
    };
    s.once('connect', pump);
  });
}

/** User plus system CPU seconds a process has used. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `crictl port-forward` of one pod port to a local one; resolves once it listens. */
async function crictlForward(endpoint: string, podId: string, remotePort: number, transport: 'spdy' | 'websocket'): Promise<{ local: Endpoint; proc: ChildProcess }> {
  const localPort = await freePort();
  const proc = spawn(crictl, ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, 'port-forward', '--transport', transport, podId, `${localPort}:${remotePort}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const seen = (c: Buffer): void => {
      output += c.toString();
      if (output.includes('Forwarding from')) resolve();
    };
    proc.stdout!.on('data', seen);
    proc.stderr!.on('data', seen);
    proc.once('exit', (code) => reject(new Error(`crictl port-forward exited ${code}: ${output}`)));
  });
  return { local: { host: '127.0.0.1', port: localPort }, proc };
}

/** Waits until the pod's port accepts connections (the server container may still be starting). */
async function reachable(to: Endpoint): Promise<void> {
  for (const deadline = Date.now() + 15_000; ; await sleep(100)) {
    const ok = await new Promise<boolean>((resolve) => {
      const s: Socket = connect(to.port, to.host, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${to.host}:${to.port} never accepted a connection`);
  }
}

async function main(): Promise<void> {
  const problem = await execProblem();
  if (problem) throw new Error(`cannot run: ${problem}`);
  const fx = await startRuntimeDaemon({ suite: 'bench-pf', bridge: `skp${process.pid % 10000}`, subnet: '10.231.26.0/24', extraArgs: ['--log-level', 'info'] });
  const daemon = fx.daemon;
  const forwards: ChildProcess[] = [];
  try {
    const pod = podConfig(fx, 'bench-pf');
    const { podSandboxId } = await daemon.client.runtime.RunPodSandbox!({ config: pod });
    const serve = async (name: string, port: number, script: string): Promise<void> => {
      const config = containerConfig(fx, name, ['nc', '-ll', '-p', String(port), '-e', 'sh', '-c', script]);
      const { containerId } = await daemon.client.runtime.CreateContainer!({ podSandboxId, config, sandboxConfig: pod });
      await daemon.client.runtime.StartContainer!({ containerId });
    };
    // dd moves 64 KiB per system call at the pod's end of every path alike.
    await serve('source', sourcePort, `dd if=/dev/zero bs=65536 count=${payload / 65536} 2>/dev/null`);
    await serve('sink', sinkPort, 'dd of=/dev/null bs=65536 2>/dev/null');
    const status = await daemon.client.runtime.PodSandboxStatus!({ podSandboxId, verbose: false });
    const podIp = status.status?.network?.ip as string;
    if (!podIp) throw new Error('the pod has no IP');
    await reachable({ host: podIp, port: sourcePort });
    await reachable({ host: podIp, port: sinkPort });

    const endpoint = `unix://${daemon.socket}`;
    const paths: Path[] = [{ name: 'direct TCP to the pod IP', source: { host: podIp, port: sourcePort }, sink: { host: podIp, port: sinkPort }, clientPids: [] }];
    for (const transport of ['spdy', 'websocket'] as const) {
      const source = await crictlForward(endpoint, podSandboxId, sourcePort, transport);
      const sink = await crictlForward(endpoint, podSandboxId, sinkPort, transport);
      forwards.push(source.proc, sink.proc);
      paths.push({
        name: `crictl port-forward, ${transport === 'spdy' ? 'SPDY' : 'WebSocket (SPDY tunnel)'}`,
        source: source.local,
        sink: sink.local,
        clientPids: [source.proc.pid!, sink.proc.pid!],
      });
    }

    const daemonPid = daemon.proc.pid!;
    const results = paths.map((p) => ({ path: p, down: [] as number[], up: [] as number[], cpu: 0, clientCpu: 0, bytes: 0 }));
    const clientCpu = async (pids: number[]) => (await Promise.all(pids.map(cpuSeconds))).reduce((a, b) => a + b, 0);
    const mbps = (ms: number) => payload / 1e6 / (ms / 1000);
    // One warm-up pass, then interleaved runs so load drifts hit every path alike.
    for (let i = -1; i < runs; i++) {
      for (const r of results) {
        const cpuBefore = await cpuSeconds(daemonPid);
        const clientBefore = await clientCpu(r.path.clientPids);
        let got = 0;
        const down = await timed(async () => (got = await download(r.path.source)));
        if (got !== payload) throw new Error(`${r.path.name}: downloaded ${got} of ${payload} bytes`);
        const up = await timed(() => upload(r.path.sink));
        const cpu = (await cpuSeconds(daemonPid)) - cpuBefore;
        const client = (await clientCpu(r.path.clientPids)) - clientBefore;
        if (i < 0) continue;
        r.down.push(mbps(down));
        r.up.push(mbps(up));
        r.cpu += cpu;
        r.clientCpu += client;
        r.bytes += 2 * payload;
      }
    }
    await daemon.client.runtime.RemovePodSandbox!({ podSandboxId });

    console.log(`port-forward throughput, ${mib} MiB per transfer, ${runs} runs of each path, interleaved (MB = 10^6 bytes)`);
    const figures: Figure[] = [];
    for (const r of results) {
      figures.push({ name: `${r.path.name}: pod -> client`, samples: r.down, unit: 'MB/s' });
      figures.push({ name: `${r.path.name}: client -> pod`, samples: r.up, unit: 'MB/s' });
    }
    printTable(figures, { columns: ['median', 'min', 'max'] });
    console.log('');
    const direct = results[0]!;
    for (const r of results.slice(1)) {
      const share = (xs: number[], ys: number[]) => ((100 * median(xs)) / median(ys)).toFixed(0);
      const perGb = (seconds: number) => (seconds / (r.bytes / 1e9)).toFixed(2);
      console.log(
        `${r.path.name}: ${share(r.down, direct.down)}% of direct pod -> client, ${share(r.up, direct.up)}% client -> pod; ` +
          `CPU per GB moved: daemon ${perGb(r.cpu)} s, crictl ${perGb(r.clientCpu)} s`,
      );
    }
    console.log(`direct TCP: daemon CPU ${(direct.cpu / (direct.bytes / 1e9)).toFixed(2)} s per GB (not on the path)`);
  } finally {
    for (const p of forwards) p.kill();
    await fx.cleanup();
  }
}

await main();
