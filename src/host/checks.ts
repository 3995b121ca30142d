import { execFile } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SkiffConfig } from '../config/schema.js';
import { pauseBinaryPath } from '../native/index.js';
import { findCniNetwork } from '../network/cni_config.js';
import { resolveRuntimeHandler } from '../oci/runtime_handlers.js';
import { findExecutable } from './executables.js';

const run = promisify(execFile);

export interface HostCheck {
  name: string;
  ok: boolean;
  /** A failed required check makes `skiff check` exit non-zero; others are warnings. */
  required: boolean;
  detail: string;
  fix?: string;
}

/** Everything skiff needs from the host, checked without changing it. */
export async function checkHost(config: SkiffConfig): Promise<HostCheck[]> {
  const checks = await Promise.all([
    checkRoot(),
    checkOverlay(),
    checkCgroups(),
    ...Object.keys(config.runtimes).map((name) => checkRuntime(config, name)),
    checkMonitor(config),
    checkOwnBinary('pause', pauseBinaryPath, 'pods that share a PID namespace run it'),
    checkCniPlugins(config),
    checkCniConfig(config),
    checkIptables(),
  ]);
  return checks;
}

async function checkRoot(): Promise<HostCheck> {
  const uid = process.getuid?.() ?? -1;
  return {
    name: 'root',
    ok: uid === 0,
    required: true,
    detail: `running as uid ${uid}`,
    fix: 'run skiff as root: it mounts, creates namespaces and manages cgroups',
  };
}

async function checkOverlay(): Promise<HostCheck> {
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const ok = /\toverlay$/m.test(filesystems);
  return {
    name: 'overlayfs',
    ok,
    required: true,
    detail: ok ? 'overlay is registered in /proc/filesystems' : 'overlay is not in /proc/filesystems',
    fix: 'load the module: modprobe overlay',
  };
}

/** Reports the cgroup layout: v2 unified, v1, or hybrid (v1 plus a cgroup2 mount). */
async function checkCgroups(): Promise<HostCheck> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const v1Controllers: string[] = [];
  let v2Mount: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4] ?? '';
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype === 'cgroup2') v2Mount ??= mountPoint;
    if (fstype === 'cgroup') {
      for (const opt of superOptions.split(',')) {
        if (!['rw', 'ro'].includes(opt) && !opt.startsWith('name=') && !opt.includes('=')) v1Controllers.push(opt);
      }
    }
  }
  const v2Controllers = v2Mount
    ? (await readFile(join(v2Mount, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean)
    : [];
  const available = new Set([...v1Controllers, ...v2Controllers]);
  const missing = ['cpu', 'memory', 'pids'].filter((c) => !available.has(c));
  let layout: string;
  if (v1Controllers.length === 0 && v2Mount) layout = `v2 (unified at ${v2Mount}; controllers: ${v2Controllers.join(' ') || 'none'})`;
  else if (v2Mount) layout = `v1 hybrid (v1: ${v1Controllers.join(' ')}; cgroup2 at ${v2Mount} with: ${v2Controllers.join(' ') || 'none'})`;
  else if (v1Controllers.length) layout = `v1 (${v1Controllers.join(' ')})`;
  else layout = 'no cgroup filesystem mounted';
  return {
    name: 'cgroups',
    ok: missing.length === 0,
    required: true,
    detail: missing.length ? `${layout}; missing controllers: ${missing.join(', ')}` : layout,
    fix: 'mount cgroup2 at /sys/fs/cgroup (or the v1 cpu, memory and pids hierarchies) with those controllers enabled',
  };
}

async function checkRuntime(config: SkiffConfig, name: string): Promise<HostCheck> {
  const handler = await resolveRuntimeHandler(config, name);
  const isDefault = name === config.default_runtime;
  const label = `runtime ${name}${isDefault ? ' (default)' : ''}`;
  const wanted = config.runtimes[name]?.runtime_path || name;
  if (!handler?.runtimePath) {
    return {
      name: label,
      ok: false,
      required: isDefault,
      detail: `${wanted} not found or not executable`,
      fix: `install ${name} (apt-get install ${name}) or set runtimes.${name}.runtime_path`,
    };
  }
  return { name: label, ok: true, required: isDefault, detail: `${handler.runtimePath}: ${await firstLine(handler.runtimePath)}` };
}

async function checkMonitor(config: SkiffConfig): Promise<HostCheck> {
  const wanted = config.runtimes[config.default_runtime]?.monitor_path || 'conmon';
  const path = await findExecutable(wanted);
  if (!path) {
    return {
      name: 'monitor conmon',
      ok: false,
      required: true,
      detail: `${wanted} not found or not executable`,
      fix: 'install conmon (apt-get install conmon) or set monitor_path',
    };
  }
  const version = await firstLine(path);
  // skiff runs conmon with --sync (conmon 2.0.19 and later): an older one fails every create.
  const help = await run(path, ['--help'], { timeout: 5000 }).then(
    ({ stdout }) => stdout,
    (err: { stdout?: string }) => err.stdout ?? '',
  );
  if (!/--sync\b/.test(help)) {
    return {
      name: 'monitor conmon',
      ok: false,
      required: true,
      detail: `${path}: ${version}: no --sync option, which skiff starts conmon with`,
      fix: 'install conmon 2.0.19 or later',
    };
  }
  return { name: 'monitor conmon', ok: true, required: true, detail: `${path}: ${version}` };
}

/** A binary `npm run build` installs beside the addon; a warning when missing (only some pods need it). */
async function checkOwnBinary(name: string, path: string, why: string): Promise<HostCheck> {
  const ok = await access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
  return ok
    ? { name, ok, required: false, detail: path }
    : { name, ok, required: false, detail: `${path} is missing or not executable (${why})`, fix: 'build it: npm run build:native' };
}

async function checkCniPlugins(config: SkiffConfig): Promise<HostCheck> {
  const dirs = config.network.cni_plugin_dirs;
  const wanted = ['loopback', 'bridge', 'host-local', 'portmap'];
  const found = await Promise.all(wanted.map((p) => findExecutable(p, dirs.join(':'))));
  const missing = wanted.filter((_, i) => !found[i]);
  return {
    name: 'CNI plugins',
    ok: found[0] !== undefined,
    required: true,
    detail: missing.length
      ? `in ${dirs.join(', ')}: missing ${missing.join(', ')}`
      : `found ${wanted.join(', ')} (${[...new Set(found.map((f) => f!.replace(/\/[^/]+$/, '')))].join(', ')})`,
    fix: 'install containernetworking-plugins, or point --cni-plugin-dir at the plugin binaries',
  };
}

async function checkCniConfig(config: SkiffConfig): Promise<HostCheck> {
  const lookup = await findCniNetwork(config.network.cni_config_dir, config.network.cni_default_network);
  return {
    name: 'CNI config',
    ok: lookup.found,
    // Pods on the host network still run without it; the node reports NetworkReady=false.
    required: false,
    detail: lookup.found ? `network "${lookup.network.name}" from ${lookup.network.file}` : lookup.reason,
    fix: `put a .conflist for your pod network in ${config.network.cni_config_dir}`,
  };
}

async function checkIptables(): Promise<HostCheck> {
  const path = await findExecutable('iptables', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`);
  return path
    ? { name: 'iptables', ok: true, required: true, detail: `${path}: ${await firstLine(path)}` }
    : {
        name: 'iptables',
        ok: false,
        required: true,
        detail: 'iptables not found',
        fix: 'install iptables (hostPort mappings and masquerading need it)',
      };
}

async function firstLine(program: string): Promise<string> {
  try {
    const { stdout } = await run(program, ['--version'], { timeout: 5000 });
    return stdout.split('\n')[0]?.trim() ?? '';
  } catch (err) {
    return `version unknown (${(err as Error).message.split('\n')[0]})`;
  }
}
