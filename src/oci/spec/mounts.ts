// The container's mounts: the OCI defaults (/proc, /dev, /sys, ...), the
// pod's shared files (/dev/shm, /etc/hostname, /etc/hosts, /etc/resolv.conf)
// and the CRI mounts, ordered so a parent is mounted before its children.

import { mkdir, stat } from 'node:fs/promises';
import { MountPropagation, type Mount } from '../../proto/cri.js';
import { absolutePath, invalidField, quote, unsatisfiable, unsupported } from './errors.js';
import type { OciMount } from './types.js';

export interface PodFiles {
  /** Host files bind-mounted at /etc/hostname, /etc/hosts and /etc/resolv.conf; "" = none. */
  hostname: string;
  hosts: string;
  resolvConf: string;
  /** Host directory bind-mounted at /dev/shm; "" = a private tmpfs. */
  shm: string;
}

export interface MountsInput {
  mounts: Mount[];
  files: PodFiles;
  privileged: boolean;
  readonlyRootfs: boolean;
  /** Creates a missing bind source (mkdir -p); replaceable in tests. */
  ensureHostDir?: (path: string) => Promise<void>;
}

export interface MountsResult {
  mounts: OciMount[];
  /** Set when a CRI mount's propagation needs the root to be a slave or shared. */
  rootfsPropagation?: 'rslave' | 'rshared';
}

const tmpfsDev = ['nosuid', 'strictatime', 'mode=755', 'size=65536k'];
const noSuidExecDev = ['nosuid', 'noexec', 'nodev'];

/** The mounts every container gets, before CRI overrides. */
export function defaultMounts(files: PodFiles, opts: { privileged: boolean; readonlyRootfs: boolean }): OciMount[] {
  const sysMode = opts.privileged ? 'rw' : 'ro';
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: [...noSuidExecDev] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: [...tmpfsDev] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    files.shm !== ''
      ? { destination: '/dev/shm', type: 'bind', source: files.shm, options: ['rbind', 'rprivate', ...noSuidExecDev] }
      : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: [...noSuidExecDev, 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: [...noSuidExecDev] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: [...noSuidExecDev, sysMode] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...noSuidExecDev, 'relatime', sysMode] },
  ];
  // The pod's files follow the root's writability, as in containerd.
  const fileMode = opts.readonlyRootfs ? 'ro' : 'rw';
  const podFile = (destination: string, source: string): void => {
    if (source !== '') {
      mounts.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec', fileMode] });
    }
  };
  podFile('/etc/hostname', files.hostname);
  podFile('/etc/hosts', files.hosts);
  podFile('/etc/resolv.conf', files.resolvConf);
  return mounts;
}

async function mkdirP(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o755 });
}

/** Number of path components: "/" is 0, "/a/b" is 2. */
function depth(path: string): number {
  return path.split('/').filter((p) => p !== '').length;
}

/** Default mounts not overridden by a CRI mount, then the CRI mounts, parents first. */
export async function buildMounts(input: MountsInput): Promise<MountsResult> {
  const ensureHostDir = input.ensureHostDir ?? mkdirP;
  const requested = new Map<string, number>();
  const criMounts: OciMount[] = [];
  let rootfsPropagation: MountsResult['rootfsPropagation'];

  for (const [i, m] of input.mounts.entries()) {
    const field = `config.mounts[${i}]`;
    if (m.image !== null && m.image !== undefined && (m.image.image !== '' || m.image.imageRef !== '')) {
      throw unsupported(`${field}.image`, 'image volumes are not supported by skiff yet');
    }
    if ((m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0) {
      throw unsupported(`${field}.uidMappings`, 'id-mapped mounts need user namespaces, which skiff does not support yet');
    }
    const destination = absolutePath(`${field}.container_path`, m.containerPath);
    const previous = requested.get(destination);
    if (previous !== undefined) {
      throw invalidField(`${field}.container_path`, `${quote(destination)} is also the target of config.mounts[${previous}]`);
    }
    requested.set(destination, i);
    const source = absolutePath(`${field}.host_path`, m.hostPath);

    const options = ['rbind'];
    const propagation = m.propagation ?? MountPropagation.PROPAGATION_PRIVATE;
    switch (propagation) {
      case MountPropagation.PROPAGATION_PRIVATE:
        options.push('rprivate');
        break;
      case MountPropagation.PROPAGATION_HOST_TO_CONTAINER:
        options.push('rslave');
        if (rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
        break;
      case MountPropagation.PROPAGATION_BIDIRECTIONAL:
        options.push('rshared');
        rootfsPropagation = 'rshared';
        break;
      default:
        throw invalidField(`${field}.propagation`, `unknown propagation ${String(propagation)}`);
    }
    if (m.recursiveReadOnly) {
      if (!m.readonly) throw invalidField(`${field}.recursive_read_only`, 'needs readonly to be set too');
      if (propagation !== MountPropagation.PROPAGATION_PRIVATE) {
        throw invalidField(`${field}.recursive_read_only`, 'needs PROPAGATION_PRIVATE');
      }
      options.push('rro');
    } else {
      options.push(m.readonly ? 'ro' : 'rw');
    }

    criMounts.push({ destination, type: 'bind', source, options });
  }
  // Only once every mount is known to be valid: create what is missing.
  for (const [i, m] of criMounts.entries()) {
    await ensureSource(`config.mounts[${i}].host_path`, m.source ?? '', ensureHostDir);
  }

  const overridesDev = requested.has('/dev');
  const overridesSys = requested.has('/sys');
  const defaults = defaultMounts(input.files, input).filter(
    (d) =>
      !requested.has(d.destination) &&
      !(overridesDev && d.destination.startsWith('/dev/')) &&
      !(overridesSys && d.destination.startsWith('/sys/')),
  );

  // A stable sort by depth puts every mount after the mounts above it.
  const mounts = [...defaults, ...criMounts]
    .map((m, order) => ({ m, order, depth: depth(m.destination) }))
    .sort((a, b) => a.depth - b.depth || a.order - b.order)
    .map((e) => e.m);
  return rootfsPropagation ? { mounts, rootfsPropagation } : { mounts };
}

/** A missing bind source is created as a directory, as the kubelet expects of a runtime. */
async function ensureSource(field: string, source: string, ensureHostDir: (path: string) => Promise<void>): Promise<void> {
  try {
    await stat(source);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw unsatisfiable(field, `cannot use ${quote(source)}: ${(err as Error).message}`, err);
    }
  }
  try {
    await ensureHostDir(source);
  } catch (err) {
    throw unsatisfiable(field, `${quote(source)} does not exist and cannot be created: ${(err as Error).message}`, err);
  }
}
