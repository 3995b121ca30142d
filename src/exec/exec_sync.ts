// ExecSync: run a command in a running container, wait for it, return its
// output and exit code. The output is read by an addon thread under one byte
// budget (exec_sync_output_max): the rest is read and dropped there, so a
// command printing gigabytes costs the daemon no more memory than the
// budget. A timeout kills the command's whole process group and answers
// DEADLINE_EXCEEDED, which the kubelet turns into a timed-out probe
// (containerd answers the same).
import { status } from '@grpc/grpc-js';
import { close as closeCallback } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { ContainerDeps } from '../container/containers.js';
import { captureOutput } from '../native/index.js';
import { within } from '../process/within.js';
import { invalidArgument, RpcError } from '../server/rpc.js';
import { execFailure, RuntimeExec, type ExecExit } from './runtime_exec.js';
import { runningContainer } from './target.js';

const closeFd = promisify(closeCallback);

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** After a kill, how long the runtime and the output may take to finish before they are cut off. */
const killGraceMs = 5000;

export async function execSync(deps: ContainerDeps, id: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
  if (!id) throw invalidArgument('container_id: required');
  if (cmd.length === 0) throw invalidArgument('cmd: required (the command and its arguments)');
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) throw invalidArgument(`timeout: ${timeoutSeconds} is not a number of seconds >= 0`);
  const target = await runningContainer(deps, id, 'ExecSync');
  const capture = captureOutput(2, deps.config.exec_sync_output_max);
  let cancelOpen = true;
  // Closed once only: a second close could hit an fd number reused meanwhile.
  const stopCapture = async (): Promise<void> => {
    if (!cancelOpen) return;
    cancelOpen = false;
    await closeFd(capture.cancelFd);
  };
  let exec: RuntimeExec | undefined;
  try {
    try {
      exec = await RuntimeExec.start(target, { cmd, terminal: false, stdio: ['null', capture.fds[0]!, capture.fds[1]!] });
    } finally {
      // The runtime has its copies; ours would keep the pipes from ever ending.
      await Promise.all(capture.fds.map((fd) => closeFd(fd)));
    }
    const exit = await exitWithin(exec, timeoutSeconds);
    if (exit === 'timeout') {
      await stopCapture();
      throw new RpcError(status.DEADLINE_EXCEEDED, `ExecSync in container ${target.record.id}: command ${JSON.stringify(cmd)} timed out after ${timeoutSeconds} s`);
    }
    // The runtime is gone; only a process that escaped into another session could still hold the pipes.
    const output = await within(capture.done, killGraceMs);
    await execFailure(target, exec, exit, 'ExecSync');
    if (!output) throw new RpcError(status.INTERNAL, `ExecSync in container ${target.record.id}: the command exited but its output never ended`);
    if (output.dropped > 0) deps.log.debug({ container: target.record.id, droppedBytes: output.dropped }, 'ExecSync output beyond exec_sync_output_max dropped');
    return { stdout: output.outputs[0]!, stderr: output.outputs[1]!, exitCode: exit.exitCode! };
  } finally {
    await stopCapture();
    if (exec?.running) await killAndReap(exec);
    // The runtime is done with its process, pid and log files: they go after the reply.
    exec?.cleanup().catch((err: unknown) => deps.log.warn({ container: id, err }, 'cannot remove an exec session\'s files'));
  }
}

/** The exit, or 'timeout' once the command ran too long and was killed. 0 s: no limit. */
async function exitWithin(exec: RuntimeExec, timeoutSeconds: number): Promise<ExecExit | 'timeout'> {
  if (timeoutSeconds === 0) return exec.closed;
  const timer = new AbortController();
  const expired = sleep(timeoutSeconds * 1000, 'timeout' as const, { signal: timer.signal }).catch(() => 'cancelled' as const);
  const first = await Promise.race([exec.closed, expired]);
  timer.abort();
  if (first !== 'timeout' && first !== 'cancelled') return first;
  await killAndReap(exec);
  return 'timeout';
}

/** Kills the process group; a runtime that outlives it goes too. */
async function killAndReap(exec: RuntimeExec): Promise<void> {
  await exec.kill();
  const gone = (await within(exec.closed, killGraceMs)) !== undefined;
  if (!gone) exec.signalRuntime('SIGKILL');
}
