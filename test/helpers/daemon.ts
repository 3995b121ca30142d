import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../../src/package_info.js';
import { criClient, type CriClient } from './cri_client.js';

export const cliPath = join(packageRoot, 'dist', 'src', 'cli', 'main.js');

/** A private directory for one test: state, sockets, config drop-ins. Removed by `cleanup`. */
export async function scratchDir(prefix = 'skiff-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Flags that keep a daemon away from the host's /etc/skiff, /var/lib/skiff and /run/skiff. */
export function isolatedFlags(dir: string): string[] {
  return [
    '--system-config', '',
    '--config-dir', join(dir, 'skiff.d'),
    '--root', join(dir, 'root'),
    '--runroot', join(dir, 'run'),
    '--listen', join(dir, 'run', 'skiff.sock'),
    '--cni-config-dir', join(dir, 'cni'),
  ];
}

export interface RunningDaemon {
  proc: ChildProcess;
  socket: string;
  client: CriClient;
  stderr: () => string;
  /** SIGTERM, then waits for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `skiff daemon` with extra flags and waits until its socket answers Version. */
export async function startDaemon(dir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  await mkdir(join(dir, 'cni'), { recursive: true });
  const args = [cliPath, 'daemon', ...isolatedFlags(dir), '--log-level', 'debug', ...extraArgs];
  const socket = flagValue(args, '--listen');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  // A socket file may be a stale one from a killed daemon: ready means Version answers.
  const client = criClient(socket);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) {
      client.close();
      throw new Error(`daemon exited with ${proc.exitCode}: ${stderr}`);
    }
    const answered = await client.runtime.Version!({}).then(() => true, () => false);
    if (answered) break;
    if (Date.now() > deadline) {
      client.close();
      proc.kill('SIGKILL');
      throw new Error(`daemon did not answer on ${socket}: ${stderr}`);
    }
    await sleep(25);
  }
  return {
    proc,
    socket,
    client,
    stderr: () => stderr,
    stop: async () => {
      client.close();
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs the CLI to completion. */
export function runCli(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [cliPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(input ?? '');
  });
}

function flagValue(args: string[], flag: string): string {
  const i = args.lastIndexOf(flag);
  const value = args[i + 1];
  if (i < 0 || value === undefined) throw new Error(`no ${flag} in ${args.join(' ')}`);
  return value;
}
