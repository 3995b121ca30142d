// The pod's infra process: the static pause binary, run under conmon by the
// pod's OCI runtime only when the pod shares one PID namespace (as CRI-O
// does with its infra container dropped otherwise). It is PID 1 of that
// namespace; containers join it through /proc/<pid>/ns/pid. Its bundle is a
// few files in the pod's run directory: config.json and an empty rootfs
// into which the runtime bind-mounts the binary read-only.

import { access, constants, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SkiffConfig } from '../config/schema.js';
import { daemonOomScoreAdj } from '../host/oom_score.js';
import { pauseBinaryPath, writeWholeFile } from '../native/index.js';
import type { OciRuntime } from '../oci/runtime/index.js';
import { unsatisfiable } from '../oci/spec/errors.js';
import { buildSandboxSpec } from '../oci/spec/index.js';
import type { PodSandboxConfig } from '../proto/cri.js';
import type { PodFilePaths } from './pod_files.js';

export interface InfraPod {
  /** The pod sandbox id, which is also the infra's id in the runtime. */
  id: string;
  name: string;
  config: PodSandboxConfig;
  hostNetwork: boolean;
  hostIpc: boolean;
  namespaces: { net?: string; ipc?: string; uts?: string };
  hostname: string;
  files: PodFilePaths;
  /** The pod cgroup (driver syntax): the infra's cgroup nests in it. */
  cgroupParent: string;
}

export interface InfraDeps {
  config: SkiffConfig;
  log: Logger;
  /** The pod's OCI runtime handler, shared with its containers. */
  runtime: OciRuntime;
  /** The pod's run directory. */
  runDir: string;
}

function infraBundle(runDir: string): string {
  return join(runDir, 'infra');
}

function infraLogPath(runDir: string): string {
  return join(infraBundle(runDir), 'infra.log');
}

/** Where the pod's containers find its shared PID namespace. */
export function infraPidNamespace(pid: number): string {
  return `/proc/${pid}/ns/pid`;
}

/** Creates and starts the infra process; resolves with its host pid. */
export async function startInfra(deps: InfraDeps, pod: InfraPod): Promise<number> {
  await access(pauseBinaryPath, constants.X_OK).catch((err: unknown) => {
    throw unsatisfiable('config.linux.security_context.namespace_options.pid', `a shared PID namespace needs the pause binary, and ${pauseBinaryPath} is not executable (build it with npm run build:native)`, err);
  });
  const bundle = infraBundle(deps.runDir);
  const rootfs = join(bundle, 'rootfs');
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  const { spec } = await buildSandboxSpec({
    id: pod.id,
    sandboxConfig: pod.config,
    rootfs,
    command: [deps.config.pause.command],
    pauseBinary: pauseBinaryPath,
    sandbox: {
      namespaces: { network: pod.namespaces.net, ipc: pod.namespaces.ipc, uts: pod.namespaces.uts },
      hostNetwork: pod.hostNetwork,
      hostIpc: pod.hostIpc,
      hostPid: false,
      hostname: pod.hostname,
      files: pod.files,
      cgroupParent: pod.cgroupParent,
    },
    cgroupManager: deps.config.cgroup_manager,
    ownOomScoreAdj: await daemonOomScoreAdj(),
    cpuset: deps.config.pause.cpuset,
  });
  await writeWholeFile(join(bundle, 'config.json'), JSON.stringify(spec), { mode: 0o644 });
  const { pid } = await deps.runtime.create({
    id: pod.id,
    bundle,
    logPath: infraLogPath(deps.runDir),
    terminal: false,
    stdin: false,
    stdinOnce: false,
    name: pod.name,
  });
  await deps.runtime.start(pod.id);
  deps.log.debug({ pod: pod.id, pid }, 'infra process started');
  return pid;
}

/** Stops the infra (pause ends on SIGTERM at once); an infra already gone is fine. */
export async function stopInfra(runtime: OciRuntime, id: string): Promise<void> {
  await runtime.stop(id, 10, 'SIGTERM');
}

/** Deletes the infra from the runtime and forgets it; safe to repeat. */
export async function deleteInfra(runtime: OciRuntime, id: string): Promise<void> {
  await runtime.delete(id, true);
  await runtime.forget(id);
}

/** Takes over an infra a previous daemon started; true when it still runs. */
export async function adoptInfra(runtime: OciRuntime, id: string, runDir: string): Promise<boolean> {
  await runtime.adopt(id, { bundle: infraBundle(runDir), logPath: infraLogPath(runDir) });
  const state = await runtime.state(id);
  return state?.status === 'running';
}
