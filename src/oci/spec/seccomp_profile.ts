// Seccomp profiles in the format Docker, Podman and the Kubernetes
// security-profiles tooling write (and the format of localhost profiles on
// nodes): OCI-like rules plus `includes`/`excludes` conditions on
// capabilities, architectures and kernel version, and an `archMap`. A profile
// is compiled for one container into plain OCI linux.seccomp.

import type { OciSeccomp, OciSeccompArg, OciSeccompSyscall, SeccompAction, SeccompOperator } from './types.js';

export interface ProfileCondition {
  /** All of these must be held (includes) / none of these may be held (excludes). */
  caps?: string[];
  /** Go architecture names: amd64, 386, x32, arm64, arm, ... */
  arches?: string[];
  /** includes only: the kernel must be at least this version ("4.8"). */
  minKernel?: string;
}

export interface ProfileSyscall {
  names?: string[];
  /** Old single-name form. */
  name?: string;
  action: SeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  includes?: ProfileCondition;
  excludes?: ProfileCondition;
  comment?: string;
}

export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[] | null;
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileSyscall[] | null;
}

export interface CompileTarget {
  /** The container's bounding capabilities (CAP_ names). */
  capabilities: string[];
  /** Go architecture name of the node: amd64 or arm64 (others pass through). */
  arch: string;
  /** Kernel release, e.g. "6.1.0-18-amd64". */
  kernel: string;
}

export const seccompActions: readonly SeccompAction[] = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
];

export const seccompOperators: readonly SeccompOperator[] = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];

/** The seccomp architectures a native one covers (its compat modes). */
const nativeArchitectures: Record<string, string[]> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

/** Node's process.arch in Go's spelling, as profiles use it. */
export function goArch(nodeArch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[nodeArch] ?? nodeArch;
}

/** The seccomp architecture names for the profile's default set on this node. */
export function architecturesFor(arch: string): string[] {
  return nativeArchitectures[arch] ?? [];
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const parse = (v: string): number[] => (/^(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1).map((n) => Number(n ?? 0));
  const [a = 0, b = 0] = parse(kernel);
  const [x = 0, y = 0] = parse(min);
  return a !== x ? a > x : b >= y;
}

function applies(rule: ProfileSyscall, target: CompileTarget, caps: Set<string>): boolean {
  const inc = rule.includes;
  if (inc) {
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(target.arch)) return false;
    if (inc.caps && inc.caps.some((c) => !caps.has(c))) return false;
    if (inc.minKernel && !kernelAtLeast(target.kernel, inc.minKernel)) return false;
  }
  const exc = rule.excludes;
  if (exc) {
    if (exc.arches && exc.arches.includes(target.arch)) return false;
    if (exc.caps && exc.caps.some((c) => caps.has(c))) return false;
  }
  return true;
}

/** Resolves the conditions of a (validated) profile for one container. */
export function compileProfile(profile: SeccompProfile, target: CompileTarget): OciSeccomp {
  const caps = new Set(target.capabilities);
  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;

  const mapped = profile.archMap?.find((m) => m.architecture === nativeArchitectures[target.arch]?.[0]);
  if (mapped) {
    out.architectures = [mapped.architecture, ...(mapped.subArchitectures ?? [])];
  } else if (profile.architectures && profile.architectures.length > 0) {
    out.architectures = [...profile.architectures];
  } else if (profile.archMap && profile.archMap.length > 0) {
    out.architectures = architecturesFor(target.arch);
  }
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  const syscalls: OciSeccompSyscall[] = [];
  for (const rule of profile.syscalls ?? []) {
    if (!applies(rule, target, caps)) continue;
    const names = rule.names && rule.names.length > 0 ? [...rule.names] : rule.name ? [rule.name] : [];
    const compiled: OciSeccompSyscall = { names, action: rule.action };
    if (rule.errnoRet !== undefined) compiled.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length > 0) compiled.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(compiled);
  }
  out.syscalls = syscalls;
  return out;
}

/**
 * Checks untrusted profile JSON and returns it typed, or a message saying
 * what is wrong (with the JSON path).
 */
export function validateProfile(json: unknown): { profile: SeccompProfile } | { error: string } {
  const fail = (error: string): { error: string } => ({ error });
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('the profile must be a JSON object');
  const p = json as Record<string, unknown>;
  if (!isAction(p['defaultAction'])) return fail(`defaultAction: must be one of ${seccompActions.join(', ')}`);
  if (p['defaultErrnoRet'] !== undefined && !isUint(p['defaultErrnoRet'])) return fail('defaultErrnoRet: must be a non-negative integer');
  if (p['architectures'] !== undefined && p['architectures'] !== null && !isStringList(p['architectures'])) {
    return fail('architectures: must be a list of strings');
  }
  if (p['flags'] !== undefined && p['flags'] !== null && !isStringList(p['flags'])) return fail('flags: must be a list of strings');
  for (const key of ['listenerPath', 'listenerMetadata']) {
    if (p[key] !== undefined && typeof p[key] !== 'string') return fail(`${key}: must be a string`);
  }
  const archMap = p['archMap'];
  if (archMap !== undefined && archMap !== null) {
    if (!Array.isArray(archMap)) return fail('archMap: must be a list');
    for (const [i, m] of archMap.entries()) {
      if (typeof m !== 'object' || m === null || typeof (m as Record<string, unknown>)['architecture'] !== 'string') {
        return fail(`archMap[${i}].architecture: must be a string`);
      }
      const subs = (m as Record<string, unknown>)['subArchitectures'];
      if (subs !== undefined && subs !== null && !isStringList(subs)) return fail(`archMap[${i}].subArchitectures: must be a list of strings`);
    }
  }
  const syscalls = p['syscalls'];
  if (syscalls !== undefined && syscalls !== null) {
    if (!Array.isArray(syscalls)) return fail('syscalls: must be a list');
    for (const [i, s] of syscalls.entries()) {
      const err = validateRule(s);
      if (err) return fail(`syscalls[${i}].${err}`);
    }
  }
  return { profile: json as SeccompProfile };
}

function validateRule(s: unknown): string | undefined {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'must be an object';
  const r = s as Record<string, unknown>;
  const names = r['names'];
  const hasNames = names !== undefined && names !== null;
  if (hasNames && !isStringList(names)) return 'names: must be a list of strings';
  if (r['name'] !== undefined && typeof r['name'] !== 'string') return 'name: must be a string';
  const nameCount = (hasNames ? (names as string[]).length : 0) + (typeof r['name'] === 'string' && r['name'] !== '' ? 1 : 0);
  if (nameCount === 0) return 'names: at least one syscall name is needed';
  if (!isAction(r['action'])) return `action: must be one of ${seccompActions.join(', ')}`;
  if (r['errnoRet'] !== undefined && !isUint(r['errnoRet'])) return 'errnoRet: must be a non-negative integer';
  const args = r['args'];
  if (args !== undefined && args !== null) {
    if (!Array.isArray(args)) return 'args: must be a list';
    for (const [j, a] of args.entries()) {
      if (typeof a !== 'object' || a === null) return `args[${j}]: must be an object`;
      const arg = a as Record<string, unknown>;
      if (!isUint(arg['index']) || (arg['index'] as number) > 5) return `args[${j}].index: must be 0 to 5`;
      if (!isUint(arg['value'])) return `args[${j}].value: must be a non-negative integer`;
      if (arg['valueTwo'] !== undefined && !isUint(arg['valueTwo'])) return `args[${j}].valueTwo: must be a non-negative integer`;
      if (!seccompOperators.includes(arg['op'] as SeccompOperator)) return `args[${j}].op: must be one of ${seccompOperators.join(', ')}`;
    }
  }
  for (const key of ['includes', 'excludes']) {
    const c = r[key];
    if (c === undefined || c === null) continue;
    if (typeof c !== 'object' || Array.isArray(c)) return `${key}: must be an object`;
    const cond = c as Record<string, unknown>;
    for (const list of ['caps', 'arches']) {
      if (cond[list] !== undefined && cond[list] !== null && !isStringList(cond[list])) return `${key}.${list}: must be a list of strings`;
    }
    if (cond['minKernel'] !== undefined && (typeof cond['minKernel'] !== 'string' || !/^\d+(\.\d+)?/.test(cond['minKernel']))) {
      return `${key}.minKernel: must be a version such as "4.8"`;
    }
  }
  return undefined;
}

function isAction(v: unknown): v is SeccompAction {
  return typeof v === 'string' && seccompActions.includes(v as SeccompAction);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}
