// A structural check of a generated spec, run before it is written: what an
// OCI runtime would reject, reported as a list of problems (empty = fine).

import type { OciSpec } from './types.js';

const namespaceTypes = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup']);

export function specProblems(spec: OciSpec): string[] {
  const problems: string[] = [];
  const problem = (path: string, what: string): void => void problems.push(`${path}: ${what}`);
  const isId = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xfffffffe;

  if (!/^1\.\d+\.\d+/.test(spec.ociVersion)) problem('ociVersion', `${JSON.stringify(spec.ociVersion)} is not a 1.x version`);
  if (!spec.root?.path) problem('root.path', 'is empty');

  const p = spec.process;
  if (!p) {
    problem('process', 'is missing');
  } else {
    if (!Array.isArray(p.args) || p.args.length === 0 || !p.args[0]) problem('process.args', 'needs a program');
    if (!p.cwd?.startsWith('/')) problem('process.cwd', 'must be absolute');
    if (!isId(p.user?.uid)) problem('process.user.uid', 'is not a valid id');
    if (!isId(p.user?.gid)) problem('process.user.gid', 'is not a valid id');
    (p.user?.additionalGids ?? []).forEach((g, i) => isId(g) || problem(`process.user.additionalGids[${i}]`, 'is not a valid id'));
    p.env.forEach((e, i) => (/^[^=\0]+=[^\0]*$/.test(e) ? undefined : problem(`process.env[${i}]`, 'is not NAME=VALUE')));
    if (p.oomScoreAdj !== undefined && (p.oomScoreAdj < -1000 || p.oomScoreAdj > 1000)) problem('process.oomScoreAdj', 'is outside -1000..1000');
    const caps = p.capabilities;
    if (caps) {
      for (const amb of caps.ambient) {
        if (!caps.permitted.includes(amb) || !caps.inheritable.includes(amb)) problem('process.capabilities.ambient', `${amb} is not permitted and inheritable`);
      }
    }
  }

  const seen = new Set<string>();
  spec.mounts.forEach((m, i) => {
    if (!m.destination.startsWith('/')) problem(`mounts[${i}].destination`, 'must be absolute');
    if (seen.has(m.destination)) problem(`mounts[${i}].destination`, `${m.destination} is mounted twice`);
    seen.add(m.destination);
    for (const earlier of spec.mounts.slice(0, i)) {
      if (earlier.destination.startsWith(`${m.destination}/`)) {
        problem(`mounts[${i}]`, `${m.destination} would hide the earlier mount at ${earlier.destination}`);
      }
    }
  });

  const ns = spec.linux?.namespaces ?? [];
  const types = new Set<string>();
  ns.forEach((n, i) => {
    if (!namespaceTypes.has(n.type)) problem(`linux.namespaces[${i}].type`, `unknown type ${n.type}`);
    if (types.has(n.type)) problem(`linux.namespaces[${i}]`, `${n.type} appears twice`);
    types.add(n.type);
    if (n.path !== undefined && !n.path.startsWith('/')) problem(`linux.namespaces[${i}].path`, 'must be absolute');
  });
  if (spec.hostname !== undefined && !types.has('uts')) problem('hostname', 'needs a private UTS namespace');
  if (spec.linux?.sysctl) {
    for (const key of Object.keys(spec.linux.sysctl)) {
      if (key.startsWith('net.') && !types.has('network')) problem(`linux.sysctl.${key}`, 'needs a private network namespace');
    }
  }
  const seccomp = spec.linux?.seccomp;
  if (seccomp) {
    seccomp.syscalls?.forEach((s, i) => (s.names.length === 0 ? problem(`linux.seccomp.syscalls[${i}].names`, 'is empty') : undefined));
  }
  return problems;
}
