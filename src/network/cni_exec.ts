// Running one CNI plugin binary: lookup in the plugin dirs, the environment and
// stdin of the execution protocol, the result or error on stdout, a deadline.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runProgram, type ProgramRun } from '../native/index.js';
import { environmentEntries, exitSignal } from '../process/child.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** What one plugin invocation gets besides its stdin config. */
export interface CniInvocation {
  command: CniCommand;
  containerId: string;
  /** Empty for a DEL whose namespace is already gone (the spec makes it optional there). */
  netns: string;
  ifName: string;
  /** `K=V;K=V`. */
  args: string;
  pluginDirs: string[];
  timeoutMs: number;
}

/**
 * A plugin failed: its error JSON (`code`, `msg`, `details`) when it printed
 * one, else its exit status and stderr. The message names the plugin type, the
 * command, the code and the msg.
 */
export class CniPluginError extends Error {
  override readonly name = 'CniPluginError';
  constructor(
    message: string,
    readonly pluginType: string,
    readonly command: CniCommand,
    /** The CNI error code (1-99 well-known, 100+ plugin specific), when the plugin reported one. */
    readonly code?: number,
    readonly msg?: string,
    readonly details?: string,
    readonly stderr?: string,
  ) {
    super(message);
  }
}

/** A plugin type is a file name in one of the plugin dirs, never a path. */
export function validPluginType(type: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(type) && type.length <= 255;
}

/** The executable for `type`: the first plugin dir that holds one, in order. */
export async function findPlugin(type: string, pluginDirs: string[]): Promise<string | undefined> {
  if (!validPluginType(type)) return undefined;
  for (const dir of pluginDirs) {
    const path = join(dir, type);
    try {
      const st = await stat(path);
      if (!st.isFile()) continue;
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

export function missingPluginMessage(type: string, pluginDirs: string[]): string {
  if (!validPluginType(type)) return `CNI plugin type ${JSON.stringify(type)} is not a valid plugin name`;
  return `CNI plugin "${type}" not found in ${pluginDirs.length ? pluginDirs.join(', ') : '(no plugin dirs configured)'}`;
}

const maxStdout = 8 * 1024 * 1024;
const maxStderr = 64 * 1024;

/** The sbin dirs iptables lives in: plugins find it through PATH, and a daemon started by hand may lack them. */
const sbinDirs = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function pluginEnv(inv: CniInvocation): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNI_')) env[k] = v;
  const path = (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter((d) => d !== '');
  for (const d of sbinDirs) if (!path.includes(d)) path.push(d);
  env.PATH = path.join(':');
  env.CNI_COMMAND = inv.command;
  env.CNI_CONTAINERID = inv.containerId;
  env.CNI_NETNS = inv.netns;
  env.CNI_IFNAME = inv.ifName;
  env.CNI_ARGS = inv.args;
  env.CNI_PATH = inv.pluginDirs.join(':');
  return env;
}

/**
 * Runs the plugin at `path` with `config` on stdin and resolves with its
 * parsed stdout (undefined when it printed nothing, as DEL and CHECK may).
 * A plugin still running at the deadline is killed with its process group.
 */
export async function execPlugin(path: string, type: string, config: Record<string, unknown>, inv: CniInvocation): Promise<unknown> {
  let run: ProgramRun;
  try {
    run = await runProgram({
      file: path,
      args: [],
      env: environmentEntries(pluginEnv(inv)),
      input: JSON.stringify(config),
      timeoutMs: inv.timeoutMs,
      maxOutput: maxStdout,
      newSession: true,
    });
  } catch (e) {
    throw new CniPluginError(`CNI plugin "${type}" ${inv.command} could not be started: ${(e as Error).message}`, type, inv.command);
  }
  const stdout = run.stdout.toString('utf8');
  const stderr = run.stderr.subarray(-maxStderr).toString('utf8').trim();
  if (run.timedOut) {
    throw new CniPluginError(`CNI plugin "${type}" ${inv.command} timed out after ${inv.timeoutMs / 1000}s and was killed`, type, inv.command, undefined, undefined, undefined, stderr);
  }
  if (run.stdoutDropped > 0) {
    throw new CniPluginError(`CNI plugin "${type}" ${inv.command} printed more than ${maxStdout} bytes`, type, inv.command);
  }
  if (run.code !== 0) throw pluginFailure(type, inv.command, stdout, stderr, run.code, exitSignal(run.signal));
  if (stdout.trim() === '') return undefined;
  try {
    return JSON.parse(stdout);
  } catch (e) {
    throw new CniPluginError(`CNI plugin "${type}" ${inv.command} printed a result that is not JSON: ${(e as Error).message}`, type, inv.command, undefined, undefined, undefined, stderr);
  }
}

function pluginFailure(type: string, command: CniCommand, stdout: string, stderr: string, exitCode: number | null, signal: NodeJS.Signals | null): CniPluginError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed === 'object' && parsed !== null) {
    const e = parsed as Record<string, unknown>;
    const code = typeof e.code === 'number' ? e.code : undefined;
    const msg = typeof e.msg === 'string' ? e.msg : undefined;
    const details = typeof e.details === 'string' && e.details !== '' ? e.details : undefined;
    if (code !== undefined || msg !== undefined) {
      const text = [msg ?? '(no message)', details].filter((s) => s !== undefined).join(': ');
      const codeText = code !== undefined ? ` with code ${code}${wellKnownCodes[code] ? ` (${wellKnownCodes[code]})` : ''}` : '';
      return new CniPluginError(`CNI plugin "${type}" ${command} failed${codeText}: ${text}`, type, command, code, msg, details, stderr);
    }
  }
  const status = signal ? `was killed by ${signal}` : `exited with status ${exitCode}`;
  const said = stderr || stdout.trim();
  return new CniPluginError(`CNI plugin "${type}" ${command} ${status}${said ? `: ${said.slice(0, 2000)}` : ''}`, type, command, undefined, undefined, undefined, stderr);
}

const wellKnownCodes: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
  50: 'plugin not available',
  51: 'plugin not available, existing containers may be damaged',
};
