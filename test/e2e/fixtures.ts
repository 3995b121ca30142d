// What the end-to-end tests share: the runtime fixture (registry, busybox
// image with a non-root user and a web root, daemon on its own bridge
// network with portmap and its own pod cgroup parent), and helpers to run
// containers and read what they printed from their CRI log files.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { assembleLines, parseCriLog } from '../../src/oci/runtime/cri_log.js';
import { cniPluginDir } from '../helpers/cni_bridge.js';
import { registryBinary } from '../helpers/registry.js';
import { startRuntimeDaemon, startContainer, waitState, State, type Pod, type RuntimeDaemon } from '../helpers/runtime_daemon.js';
import { conmonPath, crunPath, hostProblem, runcPath } from '../oci_runtime/fixtures.js';

export { iptablesRulesMentioning } from '../helpers/cni_bridge.js';
export { containerConfig, containerStatus, podConfig, runPod, startContainer, State, waitState, type Pod } from '../helpers/runtime_daemon.js';

export const run = promisify(execFile);

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

export type E2e = RuntimeDaemon & { cgroupParent: string };

export interface E2eOptions {
  /** Distinguishes the files' networks: 0..9. */
  slot: number;
  /** More daemon flags (a later flag wins, e.g. --config-dir for drop-ins). */
  extraArgs?: string[];
}

/** The runtime fixture with a bridge + portmap network and a pod cgroup parent unique to the file. */
export async function startE2e(opts: E2eOptions): Promise<E2e> {
  const tag = `${process.pid % 10000}${opts.slot}`;
  const cgroupParent = `/skiff-e2e-${tag}`;
  const fx = await startRuntimeDaemon({
    suite: 'e2e',
    bridge: `ske${tag}`,
    subnet: `10.198.${(process.pid * 10 + opts.slot) % 250}.0/24`,
    cgroupParent,
    portmap: true,
    image: { users: [imageUser], files: [{ name: 'www/', type: 'dir' }, { name: 'www/index.html', data: 'hello from the pod\n' }] },
    extraArgs: ['--log-level', 'info', ...(opts.extraArgs ?? [])],
  });
  return Object.assign(fx, { cgroupParent });
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
