// The conmon command line and environment for creating a container, in the
// order and spelling CRI-O uses with conmon 2.1.x. Pure functions: the
// driver and the tests share them.

import { join } from 'node:path';

export interface ConmonCreateInput {
  id: string;
  /** conmon -n: the container's name (journald and syslog use it). */
  name: string;
  bundle: string;
  /** The kubelet's CRI log file. */
  logPath: string;
  exitsDir: string;
  attachSocketDir: string;
  /** Where conmon also writes `exit` and `oom`; absent: not passed. */
  persistDir?: string;
  runtimePath: string;
  runtimeRoot: string;
  /** conmon --log-level (error, warn, info, debug, trace). */
  logLevel: string;
  systemdCgroup: boolean;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** Bytes after which conmon truncates the log; absent or negative: unlimited. */
  logSizeMax?: number;
  noPivot?: boolean;
  noSyncLog?: boolean;
}

/** conmon's pid, written by skiff when it spawns conmon (with --sync conmon does not daemonise, nor write -P). */
export const conmonPidFile = (bundle: string): string => join(bundle, 'conmon-pidfile');
/** conmon -p: the runtime's --pid-file, the container's init pid. */
export const containerPidFile = (bundle: string): string => join(bundle, 'pidfile');

export function conmonCreateArgs(i: ConmonCreateInput): string[] {
  const args = [
    '-b', i.bundle,
    '-c', i.id,
    '--exit-dir', i.exitsDir,
    '-l', i.logPath,
    '--log-level', i.logLevel,
    '-n', i.name,
    '-p', containerPidFile(i.bundle),
    ...(i.persistDir !== undefined ? ['--persist-dir', i.persistDir] : []),
    '-r', i.runtimePath,
    '--runtime-arg', `--root=${i.runtimeRoot}`,
    '--socket-dir-path', i.attachSocketDir,
    '-u', i.id,
    // No double fork: the process skiff spawns is the monitor, known at once, and one fork fewer.
    '--sync',
  ];
  if (i.systemdCgroup) args.push('-s');
  if (i.logSizeMax !== undefined && i.logSizeMax >= 0) args.push('--log-size-max', String(i.logSizeMax));
  if (i.noSyncLog) args.push('--no-sync-log');
  if (i.noPivot) args.push('--no-pivot');
  if (i.terminal) {
    args.push('-t');
  } else if (i.stdin) {
    if (!i.stdinOnce) args.push('--leave-stdin-open');
    args.push('-i');
  }
  return args;
}

/**
 * The environment of conmon and of the runtime commands: the handler's
 * monitor_env, then the daemon's PATH and XDG_RUNTIME_DIR where monitor_env
 * does not set them. Nothing else of the daemon's environment leaks in.
 */
export function runtimeEnvironment(monitorEnv: readonly string[], base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of monitorEnv) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  for (const key of ['PATH', 'XDG_RUNTIME_DIR']) {
    const value = base[key];
    if (env[key] === undefined && value !== undefined) env[key] = value;
  }
  return env;
}

/**
 * The fd numbers of the pipes conmon is given, in the environment variables
 * that name them: fd 3 carries sync messages; fd 4, when there is one, the
 * start byte conmon waits for before it forks anything.
 */
export function conmonPipeEnvironment(pipes: { start: boolean }): NodeJS.ProcessEnv {
  return { _OCI_SYNCPIPE: '3', ...(pipes.start ? { _OCI_STARTPIPE: '4' } : {}) };
}

/** A pino level as conmon spells it (conmon rejects unknown levels). */
export function conmonLogLevel(level: string): string {
  switch (level) {
    case 'trace':
    case 'debug':
    case 'info':
    case 'warn':
    case 'error':
      return level;
    default:
      // fatal, silent, anything else: errors only.
      return 'error';
  }
}

/**
 * The attach socket: conmon links `<dir>/<id>` to the bundle and binds
 * `attach` inside it; a link name of exactly 107 characters is cut by one.
 */
export function attachSocketPath(attachSocketDir: string, id: string): string {
  let base = join(attachSocketDir, id);
  if (base.length === 107) base = base.slice(0, 106);
  return join(base, 'attach');
}
