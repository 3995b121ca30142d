// What the runtime-driver tests share: a busybox rootfs, bundles whose
// config.json comes from the project's spec generator (buildContainerSpec
// with CRI messages built here), runtimes for runc and crun, and cleanup of
// everything a test may leave on the host (runtime containers, conmons,
// cgroups).

import { execFile } from 'node:child_process';
import { access, constants, copyFile, mkdir, mkdtemp, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { nodeCapabilities } from '../../src/oci/spec/capabilities.js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { listHostDevices, statHostDevice } from '../../src/oci/spec/devices.js';
import { detectCgroupHost } from '../../src/oci/spec/resources.js';
import type { OciSpec } from '../../src/oci/spec/types.js';
import type { ResolvedRuntimeHandler } from '../../src/oci/runtime_handlers.js';
import { ExitWatcher } from '../../src/oci/runtime/exit_watcher.js';
import { OciRuntime, type CreateContainerOptions } from '../../src/oci/runtime/oci_runtime.js';
import { containerConfig as criContainerConfig, isStaticElf, podSecurityContext, sandboxConfig, securityContext } from '../oci/helpers.js';
import type { ContainerConfig, LinuxContainerResources, PodSandboxConfig } from '../../src/proto/cri.js';

const run = promisify(execFile);

export const busybox = '/bin/busybox';
export const runcPath = '/usr/bin/runc';
export const crunPath = '/usr/bin/crun';
export const conmonPath = '/usr/bin/conmon';

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Why the host cannot run these tests, or false when it can. */
export async function hostProblem(runtime = runcPath): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!(await executable(runtime))) return `${runtime} not found`;
  if (!(await executable(conmonPath))) return `${conmonPath} not found`;
  if (!(await isStaticElf(busybox))) return `${busybox} is not a static busybox (install busybox-static)`;
  return false;
}

export const quietLog = pino({ level: 'silent' });

export interface Work {
  dir: string;
  rootfs: string;
  exitsDir: string;
  attachDir: string;
  cgroupParent: string;
  ownOomScoreAdj: number;
}

/** A scratch directory with a busybox rootfs (every applet linked in /bin). */
export async function makeWork(tag: string): Promise<Work> {
  const dir = await mkdtemp(join(tmpdir(), `skiff-rt-${tag}-`));
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await copyFile(busybox, join(rootfs, 'bin/busybox'));
  const { stdout } = await run(busybox, ['--list']);
  for (const applet of stdout.split('\n').map((s) => s.trim())) {
    if (applet === '' || applet === 'busybox') continue;
    await symlink('busybox', join(rootfs, 'bin', applet)).catch(() => undefined);
  }
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');
  const ownOomScoreAdj = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
  return {
    dir,
    rootfs,
    exitsDir: join(dir, 'exits'),
    attachDir: join(dir, 'attach'),
    cgroupParent: `/skiff-rt-${tag}-${process.pid}`,
    ownOomScoreAdj,
  };
}

export function handlerFor(work: Work, name: 'runc' | 'crun'): ResolvedRuntimeHandler {
  return {
    name,
    runtimePath: name === 'runc' ? runcPath : crunPath,
    runtimeRoot: join(work.dir, 'state', name),
    monitorPath: conmonPath,
    config: {
      runtime_path: '',
      runtime_root: '',
      runtime_type: 'oci',
      monitor_path: '',
      monitor_env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      allowed_annotations: [],
      privileged_without_host_devices: false,
    },
  };
}

export function newRuntime(work: Work, name: 'runc' | 'crun' = 'runc', exitWatcher?: ExitWatcher): OciRuntime {
  return new OciRuntime({
    handler: handlerFor(work, name),
    cgroupManager: 'cgroupfs',
    exitsDir: work.exitsDir,
    attachSocketDir: work.attachDir,
    log: quietLog,
    ...(exitWatcher ? { exitWatcher } : {}),
    createTimeoutMs: 60_000,
  });
}

function containerConfig(name: string, command: string[], resources: LinuxContainerResources | null, tty: boolean): ContainerConfig {
  return criContainerConfig({
    metadata: { name, attempt: 0 },
    image: { image: 'sha256:busybox', annotations: {}, userSpecifiedImage: 'busybox:test', runtimeHandler: '', imageRef: '' },
    command,
    tty,
    linux: { resources, securityContext: securityContext() },
  });
}

function podConfig(cgroupParent: string): PodSandboxConfig {
  return sandboxConfig({
    metadata: { name: 'rtpod', uid: 'rtpod-uid', namespace: 'default', attempt: 0 },
    hostname: 'rtpod',
    logDirectory: '',
    linux: { cgroupParent, securityContext: podSecurityContext(), sysctls: {}, overhead: null, resources: null },
  });
}

export interface Bundle {
  id: string;
  bundle: string;
  logPath: string;
  persistDir: string;
  spec: OciSpec;
  stopSignal: string;
}

let counter = 0;

/** A bundle for `command` (run by busybox sh when a string) with a generated config.json. */
export async function makeBundle(
  work: Work,
  command: string | string[],
  opts: { resources?: LinuxContainerResources; tty?: boolean; name?: string } = {},
): Promise<Bundle> {
  const id = `rt${process.pid}x${counter++}`;
  const bundle = join(work.dir, 'bundles', id);
  await mkdir(bundle, { recursive: true });
  const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
  const { spec, stopSignal } = await buildContainerSpec({
    id,
    config: containerConfig(opts.name ?? 'app', argv, opts.resources ?? null, opts.tty ?? false),
    sandboxConfig: podConfig(work.cgroupParent),
    image: { config: { config: { Env: ['PATH=/bin'] } } },
    rootfs: work.rootfs,
    sandbox: {
      id: `rtpod${process.pid}`,
      namespaces: {},
      hostNetwork: false,
      hostIpc: false,
      hostPid: false,
      hostname: 'rtpod',
      files: { hostname: '', hosts: '', resolvConf: '', shm: '' },
      cgroupParent: work.cgroupParent,
    },
    cgroupManager: 'cgroupfs',
    defaultCapabilities: ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'KILL'],
    ownOomScoreAdj: work.ownOomScoreAdj,
    readFileInRoot: async (rootfs, path, max) => {
      try {
        return (await readFile(join(rootfs, path))).subarray(0, max);
      } catch {
        return undefined;
      }
    },
    statDevice: statHostDevice,
    hostDevices: listHostDevices,
    cgroupHost: await detectCgroupHost(),
    allCapabilities: await nodeCapabilities(),
    pidsLimit: 128,
  });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  const logPath = join(work.dir, 'logs', id, 'app', '0.log');
  await mkdir(dirname(logPath), { recursive: true });
  return {
    id,
    bundle,
    logPath,
    persistDir: join(work.dir, 'persist', id),
    spec,
    stopSignal,
  };
}

/** Creates a bundle's container under conmon; `opts` adds to or overrides the plain options. */
export function createFrom(rt: OciRuntime, b: Bundle, opts: Partial<CreateContainerOptions> = {}): ReturnType<OciRuntime['create']> {
  return rt.create({
    id: b.id,
    bundle: b.bundle,
    logPath: b.logPath,
    persistDir: b.persistDir,
    terminal: false,
    stdin: false,
    stdinOnce: false,
    name: `k8s_app_rtpod_default_${b.id}_0`,
    ...opts,
  });
}

/** A process is running (zombies do not count). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = /\) (\S)/.exec(stat)?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids of live conmon processes whose command line names this container id. */
export async function conmonsFor(id: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (!argv[0]?.endsWith('conmon')) continue;
    const c = argv.indexOf('-c');
    if (c >= 0 && argv[c + 1] === id && (await alive(Number(entry)))) out.push(Number(entry));
  }
  return out;
}

/** The container's cgroup directory under a v1 controller. */
export function cgroupV1Dir(controller: string, spec: OciSpec): string {
  return join('/sys/fs/cgroup', controller, spec.linux.cgroupsPath ?? '');
}

/** Removes what the tests created: runtime containers, then the cgroup parent and the scratch dir. */
export async function cleanupWork(work: Work, runtimes: OciRuntime[], ids: string[]): Promise<void> {
  for (const rt of runtimes) {
    for (const id of ids) await rt.delete(id, true).catch(() => undefined);
  }
  for (const controller of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    const parent = join('/sys/fs/cgroup', controller, work.cgroupParent);
    for (const child of await readdir(parent, { withFileTypes: true }).catch(() => [])) {
      if (child.isDirectory()) await rmdir(join(parent, child.name)).catch(() => undefined);
    }
    await rmdir(parent).catch(() => undefined);
  }
  await rm(work.dir, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
