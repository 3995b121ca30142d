// Linux capabilities of the container's process: the runtime's default set,
// then the CRI's add/drop lists ("ALL" meaning every capability), ambient
// additions, or everything for privileged containers.

import { readFile } from 'node:fs/promises';
import type { Capability } from '../../proto/cri.js';
import { invalidField, quote, unsatisfiable } from './errors.js';
import type { OciCapabilities } from './types.js';

/** Every capability Linux defines, indexed by its number. */
export const knownCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const capNumber = new Map(knownCapabilities.map((c, i) => [c, i]));

/** "chown", "CAP_CHOWN", "cap_Chown" → "CAP_CHOWN"; undefined when unknown. */
export function capabilityName(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return capNumber.has(full) ? full : undefined;
}

/** The capabilities in a /proc/<pid>/status mask such as CapBnd. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return knownCapabilities.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

let ownBounding: Promise<string[]> | undefined;

/**
 * What "all capabilities" can mean on this node: the daemon's own bounding
 * set (a runtime cannot grant more than it has).
 */
export function nodeCapabilities(): Promise<string[]> {
  ownBounding ??= readFile('/proc/self/status', 'utf8').then(
    (text) => {
      const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(text);
      return line?.[1] ? capabilitiesFromMask(line[1]) : [...knownCapabilities];
    },
    () => [...knownCapabilities],
  );
  return ownBounding;
}

export interface CapabilitiesInput {
  capabilities: Capability | null | undefined;
  privileged: boolean;
  /** The runtime's default set (names with or without CAP_). */
  defaults: string[];
  /** What ALL (and privileged) expands to on this node. */
  all: string[];
  field: string;
}

const isAll = (name: string): boolean => name.trim().toUpperCase() === 'ALL';

function sorted(set: Set<string>): string[] {
  return [...set].sort((a, b) => (capNumber.get(a) ?? 0) - (capNumber.get(b) ?? 0));
}

/**
 * Added capabilities go to the bounding, effective and permitted sets; ambient
 * ones to those and the inheritable and ambient sets; drops leave every set.
 * Drops are applied last, so dropping what is also added drops it.
 */
export function buildCapabilities(input: CapabilitiesInput): OciCapabilities {
  const all = new Set(input.all.map((c) => capabilityName(c) ?? c));
  if (input.privileged) {
    const every = sorted(all);
    return { bounding: every, effective: every, permitted: every, inheritable: [], ambient: [] };
  }
  const caps = input.capabilities;
  const add = caps?.addCapabilities ?? [];
  const drop = caps?.dropCapabilities ?? [];
  const ambientAdd = caps?.addAmbientCapabilities ?? [];
  const f = input.field;

  const main = new Set<string>();
  const ambient = new Set<string>();
  const addAll = add.some(isAll);
  const dropAll = drop.some(isAll);
  if (!addAll && !dropAll) {
    for (const [i, c] of input.defaults.entries()) {
      const name = capabilityName(c);
      if (!name) throw unsatisfiable(`default capabilities[${i}]`, `unknown capability ${quote(c)}`);
      // A default the node cannot grant is left out rather than failing every container.
      if (all.has(name)) main.add(name);
    }
  }
  if (addAll && !dropAll) all.forEach((c) => main.add(c));

  const resolve = (list: string, i: number, c: string): string => {
    const name = capabilityName(c);
    if (!name) throw invalidField(`${f}.${list}[${i}]`, `unknown capability ${quote(c)}`);
    return name;
  };
  const available = (list: string, i: number, name: string): string => {
    if (!all.has(name)) throw unsatisfiable(`${f}.${list}[${i}]`, `${name} is not available to containers on this node`);
    return name;
  };

  add.forEach((c, i) => {
    if (!isAll(c)) main.add(available('add_capabilities', i, resolve('add_capabilities', i, c)));
  });
  ambientAdd.forEach((c, i) => {
    if (isAll(c)) throw invalidField(`${f}.add_ambient_capabilities[${i}]`, '"ALL" is not accepted for ambient capabilities');
    const name = available('add_ambient_capabilities', i, resolve('add_ambient_capabilities', i, c));
    main.add(name);
    ambient.add(name);
  });
  drop.forEach((c, i) => {
    if (isAll(c)) return;
    const name = resolve('drop_capabilities', i, c);
    main.delete(name);
    ambient.delete(name);
  });

  const set = sorted(main);
  const amb = sorted(ambient);
  // The kernel keeps a capability ambient only while it is also inheritable.
  return { bounding: set, effective: set, permitted: set, inheritable: amb, ambient: amb };
}
