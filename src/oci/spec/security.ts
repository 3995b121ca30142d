// Hidden and read-only kernel paths, and AppArmor (which this node does not
// have). Capabilities and seccomp live in their own modules.

import { SecurityProfile_ProfileType, type SecurityProfile } from '../../proto/cri.js';
import { absolutePath, invalidField, quote, unsatisfiable } from './errors.js';

/** Paths hidden from unprivileged containers when the CRI gives none. */
export const defaultMaskedPaths: readonly string[] = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths made read-only for unprivileged containers when the CRI gives none. */
export const defaultReadonlyPaths: readonly string[] = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/**
 * The CRI lists when given (the kubelet sends its defaults for the Default
 * procMount), skiff's defaults otherwise; nothing for privileged containers.
 */
export function kernelPathRules(
  masked: string[],
  readonly: string[],
  privileged: boolean,
  field: string,
): { maskedPaths: string[]; readonlyPaths: string[] } {
  if (privileged) return { maskedPaths: [], readonlyPaths: [] };
  const check = (list: string[], name: string): string[] => list.map((p, i) => absolutePath(`${field}.${name}[${i}]`, p));
  return {
    maskedPaths: masked.length > 0 ? check(masked, 'masked_paths') : [...defaultMaskedPaths],
    readonlyPaths: readonly.length > 0 ? check(readonly, 'readonly_paths') : [...defaultReadonlyPaths],
  };
}

const noAppArmor = 'AppArmor is not enabled on this host';

/**
 * RuntimeDefault and Unconfined need nothing on a node without AppArmor; a
 * named (Localhost) profile cannot be honoured, so it is an error rather than
 * a silently unconfined container.
 */
export function checkAppArmor(profile: SecurityProfile | null | undefined, legacy: string, field: string): void {
  if (profile) {
    switch (profile.profileType) {
      case SecurityProfile_ProfileType.RuntimeDefault:
      case SecurityProfile_ProfileType.Unconfined:
        return;
      case SecurityProfile_ProfileType.Localhost:
        throw unsatisfiable(`${field}.apparmor.localhost_ref`, `${noAppArmor}; cannot apply profile ${quote(profile.localhostRef)}`);
      default:
        throw invalidField(`${field}.apparmor.profile_type`, `unknown profile type ${String(profile.profileType)}`);
    }
  }
  if (legacy === '' || legacy === 'runtime/default' || legacy === 'unconfined') return;
  if (legacy.startsWith('localhost/')) {
    throw unsatisfiable(`${field}.apparmor_profile`, `${noAppArmor}; cannot apply profile ${quote(legacy.slice('localhost/'.length))}`);
  }
  throw invalidField(`${field}.apparmor_profile`, `${quote(legacy)} is not "runtime/default", "unconfined" or "localhost/<name>"`);
}
