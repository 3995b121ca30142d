// What the end-to-end tests share: one registry with a busybox image, one
// daemon on its own bridge network (bridge + portmap from /usr/lib/cni) and
// its own pod cgroup parent, helpers to run containers and read what they
// printed from their CRI log files, and a cleanup that leaves the host as it
// was even when a test failed half-way.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { assembleLines, parseCriLog } from '../../src/oci/runtime/cri_log.js';
import { pushImage } from '../helpers/image_builder.js';
import { restartImageDaemon, startImageDaemon, type ImageDaemon } from '../helpers/image_daemon.js';
import { registryBinary, startRegistry, type TestRegistry } from '../helpers/registry.js';
import type { TarEntry } from '../helpers/tar_writer.js';
import { busybox, conmonPath, crunPath, hostProblem, runcPath } from '../oci_runtime/fixtures.js';

export const run = promisify(execFile);
export const cniPluginDir = '/usr/lib/cni';

/** CRI ContainerState values. */
export const State = { created: 0, running: 1, exited: 2 } as const;

/** Why this host cannot run the e2e tests, or false when it can. */
export async function e2eProblem(): Promise<string | false> {
  const problem = await hostProblem();
  if (problem) return problem;
  if (!existsSync(join(cniPluginDir, 'bridge')) || !existsSync(join(cniPluginDir, 'portmap'))) return `no CNI bridge/portmap plugins in ${cniPluginDir}`;
  if (!existsSync(registryBinary)) return `${registryBinary} not found`;
  if (!existsSync(conmonPath)) return `${conmonPath} not found`;
  return false;
}

/** A user the image's /etc/passwd names, for run_as_username. */
export const imageUser = { name: 'app', uid: 1234, gid: 1234 };

/** A busybox image with every applet of the host's static busybox and a non-root user. */
async function busyboxLayer(): Promise<TarEntry[]> {
  const binary = await readFile(busybox);
  const { stdout } = await run(busybox, ['--list']);
  const applets = stdout.split('\n').map((s) => s.trim()).filter((a) => a !== '' && a !== 'busybox');
  return [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: binary, mode: 0o755 },
    ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: `root:x:0:0:root:/root:/bin/sh\n${imageUser.name}:x:${imageUser.uid}:${imageUser.gid}:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n` },
    { name: 'etc/group', data: `root:x:0:\n${imageUser.name}:x:${imageUser.gid}:\nnogroup:x:65534:\n` },
    { name: 'home/', type: 'dir' },
    { name: 'home/app/', type: 'dir', uid: imageUser.uid, gid: imageUser.gid },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
    { name: 'www/', type: 'dir' },
    { name: 'www/index.html', data: 'hello from the pod\n' },
  ];
}

export interface E2e {
  registry: TestRegistry;
  /** The current daemon (replaced by restartDaemon). */
  daemon: ImageDaemon;
  /** Starts a new daemon on the same directories, after the current one stopped or was killed. */
  restartDaemon(): Promise<void>;
  image: string;
  bridge: string;
  subnet: string;
  /** The cgroupfs parent of every pod of this file (unique, removed at cleanup). */
  cgroupParent: string;
  logDir: string;
  cleanup(): Promise<void>;
}

export interface E2eOptions {
  /** Distinguishes the files' networks: 0..9. */
  slot: number;
  /** More daemon flags (a later flag wins, e.g. --config-dir for drop-ins). */
  extraArgs?: string[];
}

/** A registry with the busybox image, a daemon with a bridge network, the image pulled. */
export async function startE2e(opts: E2eOptions): Promise<E2e> {
  const tag = `${process.pid % 10000}${opts.slot}`;
  const bridge = `ske${tag}`;
  const subnet = `10.198.${(process.pid * 10 + opts.slot) % 250}.0/24`;
  const cgroupParent = `/skiff-e2e-${tag}`;
  const registry = await startRegistry();
  let daemon: ImageDaemon | undefined;
  try {
    await pushImage(registry, 'e2e/busybox', 'v1', { layers: [await busyboxLayer()], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
    const image = `${registry.host}/e2e/busybox:v1`;
    const daemonArgs = ['--cni-plugin-dir', cniPluginDir, '--log-level', 'info', ...(opts.extraArgs ?? [])];
    daemon = await startImageDaemon({ insecure: [registry.host], extraArgs: daemonArgs });
    await writeFile(
      join(daemon.dir, 'cni', '10-e2e.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: `skiff-e2e-${tag}`,
        plugins: [
          { type: 'bridge', bridge, isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(daemon.dir, 'ipam') } },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        ],
      }),
    );
    await daemon.client.image.PullImage!({ image: { image } });
    const e2e: E2e = {
      registry,
      daemon,
      restartDaemon: async () => {
        e2e.daemon = await restartImageDaemon(e2e.daemon, daemonArgs);
      },
      image,
      bridge,
      subnet,
      cgroupParent,
      logDir: join(daemon.dir, 'pod-logs'),
      // A test may restart the daemon: clean up whichever one is current.
      cleanup: () => cleanupE2e(e2e.daemon, registry, bridge, subnet, cgroupParent),
    };
    return e2e;
  } catch (err) {
    if (daemon) await cleanupE2e(daemon, registry, bridge, subnet, cgroupParent).catch(() => undefined);
    else await registry.stop();
    throw err;
  }
}

/** Removes every pod the daemon still has, stops it, and removes what the network left on the host. */
export async function cleanupE2e(daemon: ImageDaemon, registry: TestRegistry, bridge: string, subnet: string, cgroupParent: string): Promise<void> {
  try {
    const { items } = await daemon.client.runtime.ListPodSandbox!({});
    await Promise.all(items.map((p: { id: string }) => daemon.client.runtime.RemovePodSandbox!({ podSandboxId: p.id }).catch(() => undefined)));
  } catch {
    // The daemon may be down (a test killed it); what it left is removed below.
  }
  await daemon.cleanup().catch(() => undefined);
  await registry.stop().catch(() => undefined);
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  await removeIptablesRules(subnet);
  for (const controller of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    await removeCgroupTree(join('/sys/fs/cgroup', controller, cgroupParent));
  }
}

/** rmdir of a cgroup and what is below it, deepest first (cgroup dirs hold only control files). */
async function removeCgroupTree(dir: string): Promise<void> {
  for (const child of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (child.isDirectory()) await removeCgroupTree(join(dir, child.name));
  }
  await rmdir(dir).catch(() => undefined);
}

/** iptables rules (nat and filter) that mention any of `needles`, as `-S` lines. */
export async function iptablesRulesMentioning(...needles: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['nat', 'filter']) {
    const { stdout } = await run('iptables', ['-w', '-t', table, '-S']);
    out.push(...stdout.split('\n').filter((l) => l.startsWith('-A ') && needles.some((n) => l.includes(n))).map((l) => `${table}: ${l}`));
  }
  return out;
}

/** Best-effort removal of rules a failed test left for this subnet (the plugins normally remove them). */
async function removeIptablesRules(subnet: string): Promise<void> {
  for (const line of await iptablesRulesMentioning(subnet).catch(() => [] as string[])) {
    const [table, rule] = line.split(': ', 2) as [string, string];
    await run('sh', ['-c', `iptables -w -t ${table} ${rule.replace(/^-A /, '-D ')}`]).catch(() => undefined);
  }
}

let podCounter = 0;

/** A pod config with unique metadata, the file's log dir and cgroup parent. */
export function podConfig(e2e: E2e, name: string, extra: Record<string, unknown> = {}, linux: Record<string, unknown> = {}): Record<string, any> {
  const uid = `uid-${name}-${process.pid}-${podCounter++}`;
  return {
    metadata: { name, namespace: 'e2e', uid, attempt: 0 },
    hostname: name,
    logDirectory: join(e2e.logDir, uid),
    labels: { suite: 'e2e', pod: name },
    linux: { cgroupParent: e2e.cgroupParent, ...linux },
    ...extra,
  };
}

export function containerConfig(e2e: E2e, name: string, command: string[], extra: Record<string, unknown> = {}): Record<string, any> {
  return {
    metadata: { name, attempt: 0 },
    image: { image: e2e.image },
    command,
    logPath: `${name}/0.log`,
    labels: { ctr: name },
    ...extra,
  };
}

export interface Pod {
  id: string;
  config: Record<string, any>;
}

export async function runPod(e2e: E2e, config: Record<string, any>, runtimeHandler = ''): Promise<Pod> {
  const { podSandboxId } = await e2e.daemon.client.runtime.RunPodSandbox!({ config, runtimeHandler });
  return { id: podSandboxId, config };
}

/** Creates and starts a container; resolves with its id. */
export async function startContainer(e2e: E2e, pod: Pod, config: Record<string, any>): Promise<string> {
  const { containerId } = await e2e.daemon.client.runtime.CreateContainer!({ podSandboxId: pod.id, config, sandboxConfig: pod.config });
  await e2e.daemon.client.runtime.StartContainer!({ containerId });
  return containerId;
}

export async function containerStatus(e2e: E2e, id: string): Promise<any> {
  return (await e2e.daemon.client.runtime.ContainerStatus!({ containerId: id })).status;
}

/** Waits (polling the CRI, as the kubelet does) until the container is in `state`. */
export async function waitState(e2e: E2e, id: string, state: number, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await containerStatus(e2e, id);
    if (s.state === state) return s;
    if (Date.now() > deadline) throw new Error(`container ${id} still in state ${s.state}, not ${state}; log:\n${await readFile(s.logPath, 'utf8').catch(() => '')}`);
    await sleep(50);
  }
}

export interface Output {
  status: any;
  /** Whole lines per stream (partial pieces joined). */
  stdout: string[];
  stderr: string[];
  /** The raw log entries (with their P/F tags). */
  raw: string;
}

/** Reads a container's CRI log: its lines by stream. */
export async function readOutput(logPath: string): Promise<Omit<Output, 'status'>> {
  const raw = await readFile(logPath, 'utf8');
  const parsed = parseCriLog(raw);
  if (parsed.malformed.length) throw new Error(`malformed CRI log lines in ${logPath}: ${JSON.stringify(parsed.malformed)}`);
  const lines = assembleLines(parsed.entries);
  return {
    stdout: lines.filter((l) => l.stream === 'stdout').map((l) => l.text),
    stderr: lines.filter((l) => l.stream === 'stderr').map((l) => l.text),
    raw,
  };
}

/** Runs a container to its exit; resolves with its final status and what it printed. */
export async function runToExit(e2e: E2e, pod: Pod, config: Record<string, any>, timeoutMs = 20_000): Promise<Output> {
  const id = await startContainer(e2e, pod, config);
  const status = await waitState(e2e, id, State.exited, timeoutMs);
  // conmon writes the exit file after draining the container's output: the log is complete here.
  return { status, ...(await readOutput(status.logPath)) };
}

/** The container's init pid, from the runtime's own state under the handler's root. */
export async function runtimePid(e2e: E2e, id: string, handler = 'runc'): Promise<number> {
  const runtime = handler === 'crun' ? crunPath : runcPath;
  const root = join(e2e.daemon.dir, 'run', 'runtimes', handler);
  return (JSON.parse((await run(runtime, ['--root', root, 'state', id])).stdout) as { pid: number }).pid;
}

/** The container's cgroup directory under a v1 controller, as its init process sees it in /proc. */
export async function containerCgroup(e2e: E2e, controller: string, id: string, handler = 'runc'): Promise<string> {
  const pid = await runtimePid(e2e, id, handler);
  for (const line of (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n')) {
    const [, controllers = '', path = ''] = line.split(':');
    if (controllers.split(',').includes(controller)) return join('/sys/fs/cgroup', controllers, path);
  }
  throw new Error(`process ${pid} of container ${id} is in no ${controller} cgroup`);
}
