// Runtime benchmark: pod and container lifecycle latency through the CRI
// socket (real runc, conmon, CNI bridge + portmap), one at a time and 20 at
// once, against bare `runc create` + `runc start` of the same bundle as the
// floor; then the memory of the daemon (RSS) and of it with its conmons (PSS) with 50 pods alive.
//
// Set up as on a node: volatile state (the daemon's runroot, runc's root, the
// floor's bundles) on a tmpfs, as /run is there; logs and persistent state on
// disk; before each CreateContainer, the container's log directory made and
// its image looked up (ImageStatus), as the kubelet does.
//
//   node dist/bench/runtime.js          (root; runc, conmon, /usr/lib/cni, docker-registry)
//
// Environment: BENCH_RUNS (40) sequential runs, BENCH_CONCURRENCY (20), BENCH_PODS (50).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OciRuntime } from '../src/oci/runtime/oci_runtime.js';
import { startChild } from '../src/process/child.js';
import { cleanupWork, makeWork, newRuntime, runcPath, type Work } from '../test/oci_runtime/fixtures.js';
import { containerConfig, e2eProblem, podConfig, run, startE2e, type E2e } from '../test/e2e/fixtures.js';
import { percentile, printTable, timed, type Figure } from './report.js';

const runs = Number(process.env.BENCH_RUNS ?? 40);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 20);
const alivePods = Number(process.env.BENCH_PODS ?? 50);
/**
 * Idle before each sequential Create+Start, floor and driver run. Straight
 * after our container starts, runc's code is warm: a floor run then took
 * 26-29 ms, and after 100 ms of idle never under 32 ms. Our Create+Start never
 * follows runc so closely (RunPodSandbox comes first). The same pause before
 * each puts them on equal terms.
 */
const settleMs = 100;

/** A pod with one running container, brought up through the CRI, each phase timed. */
interface Up {
  podId: string;
  containerId: string;
  runPod: number;
  createStart: number;
}

async function bringUp(e2e: E2e, n: number, settle = 0): Promise<Up> {
  const cri = e2e.daemon.client.runtime;
  const config = podConfig(e2e, `bench-${n}`);
  const container = containerConfig(e2e, 'sleeper', ['sleep', '1000']);
  let podId = '';
  let containerId = '';
  const runPod = await timed(async () => {
    podId = (await cri.RunPodSandbox!({ config })).podSandboxId;
  });
  // The kubelet makes the container's log directory before it asks for the container.
  await mkdir(dirname(join(config.logDirectory as string, container.logPath as string)), { recursive: true, mode: 0o755 });
  if (settle > 0) await sleep(settle);
  // And it looks the image up (EnsureImageExists) right before CreateContainer.
  await e2e.daemon.client.image.ImageStatus!({ image: container.image });
  const createStart = await timed(async () => {
    containerId = (await cri.CreateContainer!({ podSandboxId: podId, config: container, sandboxConfig: config })).containerId;
    await cri.StartContainer!({ containerId });
  });
  return { podId, containerId, runPod, createStart };
}

async function tearDown(e2e: E2e, up: Up): Promise<{ stopRemoveContainer: number; stopRemovePod: number }> {
  const cri = e2e.daemon.client.runtime;
  const stopRemoveContainer = await timed(async () => {
    await cri.StopContainer!({ containerId: up.containerId, timeout: 0 });
    await cri.RemoveContainer!({ containerId: up.containerId });
  });
  const stopRemovePod = await timed(async () => {
    await cri.StopPodSandbox!({ podSandboxId: up.podId });
    await cri.RemovePodSandbox!({ podSandboxId: up.podId });
  });
  return { stopRemoveContainer, stopRemovePod };
}

/**
 * A child to completion with its output discarded (runc create hands its
 * stdio to the container), started by the addon's posix_spawn: node's own
 * spawn forks this whole process, a few ms that would count as runc's.
 */
async function exec(cmd: string, args: string[]): Promise<void> {
  const child = await startChild(cmd, args, { env: { PATH: process.env.PATH }, stdio: ['null', 'null', 'null'] });
  const { code, signal } = await child.exited;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${signal ?? `exit ${code}`}`);
}

/** Where things are kept: volatile state on a tmpfs, as /run is on a node; logs and persistent state on disk. */
interface Places {
  /** On disk: container logs, conmon's persist dirs. */
  work: Work;
  /** The tmpfs. */
  volatile: string;
  /** The daemon's runroot. */
  runroot: string;
  /** The floor's runc root. */
  floorRoot: string;
  /** The floor's and the driver's bundles. */
  bundles: string;
}

async function mountVolatile(work: Work): Promise<Places> {
  const volatile = join(work.dir, 'volatile');
  await mkdir(volatile);
  await run('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'skiff-bench', volatile]);
  const places = { work, volatile, runroot: join(volatile, 'skiff'), floorRoot: join(volatile, 'runc'), bundles: join(volatile, 'bundles') };
  await mkdir(places.floorRoot);
  return places;
}

/** The driver's shared directories and runc root on the tmpfs too, as the daemon's are. */
function volatileDriver(places: Places): OciRuntime {
  const dir = join(places.volatile, 'driver');
  return newRuntime({ ...places.work, dir, exitsDir: join(dir, 'exits'), attachDir: join(dir, 'attach') }, 'runc');
}

/**
 * A copy of a running container's bundle for the floor: the config.json the
 * daemon wrote (same rootfs, mounts, pod namespaces to join, resources),
 * under an id and a cgroup leaf of its own. Its rootfs is the container's,
 * already mounted: the floor does not pay for the overlay mount.
 */
async function copyBundle(places: Places, containerId: string, id: string): Promise<string> {
  const spec = JSON.parse(await readFile(join(places.runroot, 'containers', containerId, 'config.json'), 'utf8')) as { linux: { cgroupsPath: string } };
  spec.linux.cgroupsPath = spec.linux.cgroupsPath.replace(/[^/:]+$/, id);
  const bundle = join(places.bundles, id);
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  return bundle;
}

/** The floor: bare runc create + runc start of the container's own bundle; no daemon, no conmon. */
async function runcFloor(places: Places, containerId: string, n: number, settle = 0): Promise<{ createStart: number; remove: number }> {
  const id = `floor${process.pid}x${n}`;
  const root = places.floorRoot;
  const bundle = await copyBundle(places, containerId, id);
  if (settle > 0) await sleep(settle);
  const createStart = await timed(async () => {
    await exec(runcPath, ['--root', root, 'create', '--bundle', bundle, id]);
    await exec(runcPath, ['--root', root, 'start', id]);
  });
  const remove = await timed(() => exec(runcPath, ['--root', root, 'delete', '--force', id]));
  return { createStart, remove };
}

/** The daemon's runtime driver alone (conmon + runc create, then runc start) on the container's own bundle: no CRI, records, overlay or spec. */
async function driverAlone(places: Places, rt: OciRuntime, containerId: string, n: number, settle = 0): Promise<number> {
  const id = `driver${process.pid}x${n}`;
  const work = places.work;
  const bundle = await copyBundle(places, containerId, id);
  const logPath = join(work.dir, 'logs', id, '0.log');
  await mkdir(join(work.dir, 'logs', id), { recursive: true });
  if (settle > 0) await sleep(settle);
  const took = await timed(async () => {
    await rt.create({ id, bundle, logPath, persistDir: join(work.dir, 'persist', id), terminal: false, stdin: false, stdinOnce: false, name: id });
    await rt.start(id);
  });
  await rt.delete(id, true);
  return took;
}

/** A "<field>: <n> kB" figure from a /proc/<pid> file; 0 when the process is gone. */
async function procKiB(pid: number, file: string, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? 0);
}

const rssKiB = (pid: number): Promise<number> => procKiB(pid, 'status', 'VmRSS');

/**
 * Proportional set size: the process's private pages plus its share of
 * those it shares. Summed over many conmons it counts their common library
 * pages once, where RSS counts them in each (and RSS depends on how a
 * process came to be: a forked child has no file pages mapped until it
 * touches them, an exec'd one maps them as it loads).
 */
const pssKiB = (pid: number): Promise<number> => procKiB(pid, 'smaps_rollup', 'Pss');

/** conmon processes monitoring containers of the daemon rooted at `dir`. */
async function conmonPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0]?.endsWith('conmon') && argv.some((a) => a.startsWith(dir))) pids.push(Number(entry));
  }
  return pids;
}

/** "pod network set up" log lines: the daemon's own measure of each CNI ADD. */
function cniAddTimes(stderr: string): number[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes('"pod network set up"'))
    .map((l) => (JSON.parse(l) as { ms?: number }).ms ?? NaN)
    .filter((ms) => !Number.isNaN(ms));
}

/** Every figure, in table order; the daemon and the tmpfs are the caller's to set up and take down. */
async function measure(e2e: E2e, places: Places): Promise<Figure[]> {
  const figures: Figure[] = [];
  const driver = volatileDriver(places);
  const freshRss = await rssKiB(e2e.daemon.proc.pid!);
  // Warm-up: first-use costs (runtime driver, CNI plugin pages, overlay) are not what is measured.
  {
    const up = await bringUp(e2e, -1);
    await runcFloor(places, up.containerId, -1);
    await driverAlone(places, driver, up.containerId, -1);
    await tearDown(e2e, up);
  }
  const cniBefore = cniAddTimes(e2e.daemon.stderr()).length;

  const sequential: (Up & Awaited<ReturnType<typeof tearDown>>)[] = [];
  const floorSeq: { createStart: number; remove: number }[] = [];
  const driverSeq: number[] = [];
  const idleRoundTrips: number[] = [];
  // Interleaved, so drift in the machine's load hits all three alike; the floors run while
  // the container whose bundle they copy is up (its pod's namespaces and rootfs are theirs).
  for (let i = 0; i < runs; i++) {
    const up = await bringUp(e2e, i, settleMs);
    floorSeq.push(await runcFloor(places, up.containerId, i, settleMs));
    driverSeq.push(await driverAlone(places, driver, up.containerId, i, settleMs));
    sequential.push({ ...up, ...(await tearDown(e2e, up)) });
    // What a CRI call costs by itself when both ends were idle, as they are while runc works.
    await sleep(40);
    idleRoundTrips.push(await timed(() => e2e.daemon.client.runtime.Version!({})));
  }
  const cniSeq = cniAddTimes(e2e.daemon.stderr()).slice(cniBefore);

  // N at once: all pods and containers up, then N floors at once on their bundles, then all torn down.
  const upWall = performance.now();
  const ups = await Promise.all(Array.from({ length: concurrency }, (_, i) => bringUp(e2e, 1000 + i)));
  const upTook = performance.now() - upWall;
  const floorPar = await Promise.all(ups.map((up, i) => runcFloor(places, up.containerId, 1000 + i)));
  const downWall = performance.now();
  const downs = await Promise.all(ups.map((up) => tearDown(e2e, up)));
  const wall = upTook + (performance.now() - downWall);

  figures.push(
    { name: 'sequential RunPodSandbox', samples: sequential.map((t) => t.runPod), unit: 'ms' },
    { name: '  of which CNI ADD (daemon log)', samples: cniSeq, unit: 'ms' },
    { name: 'sequential Create+Start container', samples: sequential.map((t) => t.createStart), unit: 'ms' },
    { name: 'sequential runc create+start, same bundle (floor)', samples: floorSeq.map((t) => t.createStart), unit: 'ms' },
    { name: '  driver alone: conmon + runc create, start', samples: driverSeq, unit: 'ms' },
    { name: '  one CRI round trip (Version) after 40 ms idle', samples: idleRoundTrips, unit: 'ms' },
    { name: 'sequential Stop+Remove container', samples: sequential.map((t) => t.stopRemoveContainer), unit: 'ms' },
    { name: 'sequential runc delete --force (floor; polls 100 ms)', samples: floorSeq.map((t) => t.remove), unit: 'ms' },
    { name: 'sequential Stop+Remove pod', samples: sequential.map((t) => t.stopRemovePod), unit: 'ms' },
    { name: `${concurrency} at once: RunPodSandbox`, samples: ups.map((t) => t.runPod), unit: 'ms' },
    { name: `${concurrency} at once: Create+Start container`, samples: ups.map((t) => t.createStart), unit: 'ms' },
    { name: `${concurrency} at once: runc create+start (floor)`, samples: floorPar.map((t) => t.createStart), unit: 'ms' },
    { name: `${concurrency} at once: Stop+Remove container`, samples: downs.map((t) => t.stopRemoveContainer), unit: 'ms' },
    { name: `${concurrency} at once: Stop+Remove pod`, samples: downs.map((t) => t.stopRemovePod), unit: 'ms' },
    { name: `${concurrency} at once: whole lifecycle, wall`, samples: [wall], unit: 'ms' },
  );

  // Memory with many pods alive, each with a running container (so a conmon each).
  const daemonPid = e2e.daemon.proc.pid!;
  const idleRss = await rssKiB(daemonPid);
  const cri = e2e.daemon.client.runtime;
  for (let i = 0; i < alivePods; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, alivePods - i) }, async (_, k) => {
        const config = podConfig(e2e, `alive-${i + k}`);
        const { podSandboxId } = await cri.RunPodSandbox!({ config });
        const { containerId } = await cri.CreateContainer!({ podSandboxId, config: containerConfig(e2e, 'sleeper', ['sleep', '1000']), sandboxConfig: config });
        await cri.StartContainer!({ containerId });
      }),
    );
  }
  const daemonRss = await rssKiB(daemonPid);
  const daemonPss = await pssKiB(daemonPid);
  const conmons = await conmonPids(places.runroot);
  const conmonPss = (await Promise.all(conmons.map(pssKiB))).reduce((a, b) => a + b, 0);
  const mib = (kib: number) => kib / 1024;
  figures.push(
    { name: 'daemon RSS, fresh (image pulled, no pods)', samples: [mib(freshRss)], unit: 'MiB' },
    { name: 'daemon RSS, after the runs above, no pods', samples: [mib(idleRss)], unit: 'MiB' },
    { name: `daemon RSS, ${alivePods} pods alive`, samples: [mib(daemonRss)], unit: 'MiB' },
    { name: `conmon PSS, total of ${conmons.length}`, samples: [mib(conmonPss)], unit: 'MiB' },
    { name: `daemon + conmons PSS, ${alivePods} pods alive`, samples: [mib(daemonPss + conmonPss)], unit: 'MiB' },
  );
  return figures;
}

async function main(): Promise<void> {
  const problem = await e2eProblem();
  if (problem) throw new Error(`cannot run the runtime benchmark here: ${problem}`);
  console.log(`${runs} sequential runs, ${concurrency} concurrent, ${alivePods} pods for memory; CNI bridge + portmap; runc under conmon`);
  const work = await makeWork('bench');
  const places = await mountVolatile(work);
  let e2e: E2e | undefined;
  let figures: Figure[];
  try {
    e2e = await startE2e({ slot: 9, extraArgs: ['--runroot', places.runroot] });
    figures = await measure(e2e, places);
  } finally {
    await e2e?.cleanup();
    for (const id of (JSON.parse((await run(runcPath, ['--root', places.floorRoot, 'list', '--format', 'json'])).stdout || 'null') ?? []) as { id: string }[]) {
      await exec(runcPath, ['--root', places.floorRoot, 'delete', '--force', id.id]).catch(() => undefined);
    }
    await run('umount', [places.volatile]);
    await cleanupWork(work, [], []);
  }

  printTable(figures);
  const med = (name: string) => percentile(figures.find((f) => f.name === name)!.samples, 50);
  const ratio = med('sequential Create+Start container') / med('sequential runc create+start, same bundle (floor)');
  console.log('');
  console.log(`targets: RunPodSandbox median ${med('sequential RunPodSandbox').toFixed(1)} ms (< 150 ms); ` +
    `Create+Start / runc floor ${ratio.toFixed(2)}x (<= 1.3x); daemon RSS with ${alivePods} pods ${med(`daemon RSS, ${alivePods} pods alive`).toFixed(1)} MiB (< 120 MB)`);
}

await main();
