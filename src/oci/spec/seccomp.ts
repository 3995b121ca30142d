// Which seccomp filter a container runs under: none (Unconfined, or
// privileged), skiff's RuntimeDefault, or a profile file on the node
// (Localhost), each compiled for the container's capabilities.

import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { release } from 'node:os';
import { SecurityProfile_ProfileType, type SecurityProfile } from '../../proto/cri.js';
import { invalidField, quote, unsatisfiable } from './errors.js';
import { defaultSeccompProfile } from './seccomp_default.js';
import { compileProfile, goArch, validateProfile, type SeccompProfile } from './seccomp_profile.js';
import type { OciSeccomp } from './types.js';

/** Largest localhost profile read. */
export const maxProfileBytes = 4 * 1024 * 1024;

export type SeccompChoice = { kind: 'unconfined' } | { kind: 'runtime-default' } | { kind: 'localhost'; path: string; field: string };

export interface SeccompInput {
  profile: SecurityProfile | null | undefined;
  /** The deprecated string form: "", "unconfined", "runtime/default", "docker/default", "localhost/<path>". */
  legacyPath: string;
  privileged: boolean;
  /** The container's bounding capabilities. */
  capabilities: string[];
  /** The CRI path of the security context holding the fields. */
  field: string;
  /** Go architecture (default: this node's) and kernel release (default: this node's). */
  arch?: string;
  kernel?: string;
}

/** Reads the CRI fields into a choice; the message form wins over the deprecated string. */
export function seccompChoice(profile: SecurityProfile | null | undefined, legacyPath: string, field: string): SeccompChoice {
  if (profile) {
    switch (profile.profileType) {
      case SecurityProfile_ProfileType.RuntimeDefault:
        return { kind: 'runtime-default' };
      case SecurityProfile_ProfileType.Unconfined:
        return { kind: 'unconfined' };
      case SecurityProfile_ProfileType.Localhost: {
        const ref = profile.localhostRef;
        const f = `${field}.seccomp.localhost_ref`;
        if (ref === '') throw invalidField(f, 'must name a profile file for a Localhost profile');
        if (!ref.startsWith('/')) throw invalidField(f, `${quote(ref)} must be an absolute path`);
        return { kind: 'localhost', path: ref, field: f };
      }
      default:
        throw invalidField(`${field}.seccomp.profile_type`, `unknown profile type ${String(profile.profileType)}`);
    }
  }
  const f = `${field}.seccomp_profile_path`;
  // With neither field set the container runs unconfined, as in CRI-O; the
  // kubelet always sends RuntimeDefault unless the pod says Unconfined.
  if (legacyPath === '' || legacyPath === 'unconfined') return { kind: 'unconfined' };
  if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') return { kind: 'runtime-default' };
  if (legacyPath.startsWith('localhost/')) {
    const path = legacyPath.slice('localhost/'.length);
    if (!path.startsWith('/')) throw invalidField(f, `${quote(legacyPath)} must name an absolute path after "localhost/"`);
    return { kind: 'localhost', path, field: f };
  }
  throw invalidField(f, `${quote(legacyPath)} is not "unconfined", "runtime/default" or "localhost/<path>"`);
}

/** The OCI linux.seccomp for a container, or undefined for none. */
export async function buildSeccomp(input: SeccompInput): Promise<OciSeccomp | undefined> {
  const choice = seccompChoice(input.profile, input.legacyPath, input.field);
  // Privileged containers are not confined (CRI: "no seccomp").
  if (input.privileged || choice.kind === 'unconfined') return undefined;
  const profile = choice.kind === 'runtime-default' ? defaultSeccompProfile : await loadProfile(choice.path, choice.field);
  return compileProfile(profile, {
    capabilities: input.capabilities,
    arch: input.arch ?? goArch(),
    kernel: input.kernel ?? release(),
  });
}

/** Reads and checks a profile file on the node. */
export async function loadProfile(path: string, field: string): Promise<SeccompProfile> {
  let text: string;
  try {
    // Non-blocking: a FIFO at the path must not hold a worker thread until someone writes to it.
    const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await file.stat();
      if (!st.isFile()) throw new Error('not a regular file');
      const { size } = st;
      if (size > maxProfileBytes) throw new Error(`larger than ${maxProfileBytes} bytes`);
      const buf = Buffer.alloc(size);
      const { bytesRead } = await file.read(buf, 0, size, 0);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : (err as Error).message;
    throw unsatisfiable(field, `cannot read seccomp profile ${quote(path)}: ${why}`, err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw unsatisfiable(field, `seccomp profile ${quote(path)} is not valid JSON: ${(err as Error).message}`, err);
  }
  const checked = validateProfile(json);
  if ('error' in checked) throw unsatisfiable(field, `seccomp profile ${quote(path)} is invalid: ${checked.error}`);
  return checked.profile;
}
