// Pod sysctls. Only sysctls the kernel keeps per namespace may be set, and
// only when the pod has that namespace to itself: IPC ones (kernel.shm*,
// kernel.msg*, kernel.sem, fs.mqueue.*) need a private IPC namespace, net.*
// ones a private network namespace. Anything else would change the node.

import { invalidField, quote } from './errors.js';

/**
 * sysctl.d(5) spelling: when the first separator is "/", the roles of "/" and
 * "." swap ("net/ipv4/conf/eth0.100/forwarding" → "net.ipv4.conf.eth0/100.forwarding").
 */
export function normalizeSysctlName(name: string): string {
  const slash = name.indexOf('/');
  const dot = name.indexOf('.');
  if (slash < 0 || (dot >= 0 && dot < slash)) return name;
  return name.replace(/[./]/g, (c) => (c === '/' ? '.' : '/'));
}

type SysctlNamespace = 'ipc' | 'net';

/** The namespace that makes a sysctl safe, or undefined when none does. */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  if (name === 'kernel.sem' || name.startsWith('kernel.shm') || name.startsWith('kernel.msg') || name.startsWith('fs.mqueue.')) {
    return 'ipc';
  }
  if (name.startsWith('net.')) return 'net';
  return undefined;
}

const sysctlName = /^[a-z0-9_]+(\.[a-zA-Z0-9_/:@+-]+)+$/;

/**
 * Validated, normalised pod sysctls. Values may not smuggle a second setting
 * ("1+kernel.core_pattern=|/x" once fooled a runtime helper) or a line break.
 */
export function podSysctls(
  sysctls: Record<string, string>,
  pod: { hostNetwork: boolean; hostIpc: boolean },
  field = 'sandbox_config.linux.sysctls',
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(sysctls)) {
    const at = `${field}[${quote(rawName)}]`;
    const name = normalizeSysctlName(rawName);
    if (!sysctlName.test(name) || name.includes('..')) throw invalidField(at, 'is not a valid sysctl name');
    const ns = sysctlNamespace(name);
    if (ns === undefined) throw invalidField(at, `${name} is not a namespaced sysctl and would change the whole node`);
    if (ns === 'ipc' && pod.hostIpc) throw invalidField(at, `${name} cannot be set in a pod that uses the host IPC namespace`);
    if (ns === 'net' && pod.hostNetwork) throw invalidField(at, `${name} cannot be set in a pod that uses the host network`);
    if (value === '') throw invalidField(at, 'the value must not be empty');
    if (/[+=\n\r\0]/.test(value)) throw invalidField(at, `value ${quote(value)} must not contain "+", "=", a line break or NUL`);
    if (name in out) throw invalidField(at, `${name} is given twice`);
    out[name] = value;
  }
  return out;
}
