// Device nodes of a container and the device cgroup rules that go with
// them: deny everything but the usual pseudo-devices, then allow each CRI
// device (or, for privileged containers, every device of the node).

import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Device } from '../../proto/cri.js';
import { absolutePath, invalidField, quote, unsatisfiable } from './errors.js';
import type { OciDeviceRule, OciLinuxDevice } from './types.js';

export interface DeviceInfo {
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
}

export interface HostDevice extends DeviceInfo {
  path: string;
}

/**
 * Stats a device node on the host (following symlinks). Rejects with an
 * error whose code is ENOENT when missing, EISDIR for a directory, and
 * ENODEV when it is some other kind of file.
 */
export type StatDevice = (hostPath: string) => Promise<DeviceInfo>;

/** Every device node under `dir` (default /dev) on the host. */
export type ListDevices = (dir?: string) => Promise<HostDevice[]>;

/** Linux dev_t → major, minor (the glibc gnu_dev_major/minor encoding). */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

const S_IFMT = 0o170000n;
const S_IFCHR = 0o020000n;
const S_IFBLK = 0o060000n;
const S_IFDIR = 0o040000n;

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function deviceFromStat(path: string, st: { mode: bigint; rdev: bigint; uid: bigint; gid: bigint }): DeviceInfo {
  const kind = st.mode & S_IFMT;
  if (kind === S_IFDIR) throw withCode(`${path} is a directory`, 'EISDIR');
  if (kind !== S_IFCHR && kind !== S_IFBLK) throw withCode(`${path} is not a device node`, 'ENODEV');
  return {
    type: kind === S_IFCHR ? 'c' : 'b',
    ...splitDev(st.rdev),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** The real StatDevice. */
export const statHostDevice: StatDevice = async (hostPath) => deviceFromStat(hostPath, await stat(hostPath, { bigint: true }));

// Directories of /dev that hold no real devices of the node (or per-container ones).
const skippedDevDirs = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** The real ListDevices: walks `dir` without following symlinks. */
export const listHostDevices: ListDevices = async (dir = '/dev') => {
  const found: HostDevice[] = [];
  const walk = async (current: string, level: number): Promise<void> => {
    if (level > 8) return;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(current, e.name);
      if (e.isDirectory()) {
        if (level === 0 && dir === '/dev' && skippedDevDirs.has(e.name)) continue;
        await walk(path, level + 1);
      } else if (e.isCharacterDevice() || e.isBlockDevice()) {
        if (path === '/dev/console') continue;
        try {
          const info = deviceFromStat(path, await lstat(path, { bigint: true }));
          found.push({ path, ...info });
        } catch {
          // Gone or changed while walking.
        }
      }
    }
  };
  await walk(dir, 0);
  return found;
};

/** Access a container always has: the pseudo-devices every program expects. */
export function defaultDeviceRules(): OciDeviceRule[] {
  const c = (major: number, minor: number | undefined, access = 'rwm'): OciDeviceRule =>
    minor === undefined ? { allow: true, type: 'c', major, access } : { allow: true, type: 'c', major, minor, access };
  return [
    { allow: false, access: 'rwm' },
    c(1, 3), // null
    c(1, 5), // zero
    c(1, 7), // full
    c(1, 8), // random
    c(1, 9), // urandom
    c(5, 0), // tty
    c(5, 1), // console
    c(5, 2), // ptmx
    c(136, undefined), // pts/*
    { allow: true, type: 'c', access: 'm' }, // mknod of any char device
    { allow: true, type: 'b', access: 'm' }, // mknod of any block device
  ];
}

export interface DevicesInput {
  devices: Device[];
  privileged: boolean;
  /** The runtime handler's privileged_without_host_devices. */
  privilegedWithoutHostDevices: boolean;
  statDevice: StatDevice;
  hostDevices: ListDevices;
}

export interface DevicesResult {
  devices: OciLinuxDevice[];
  rules: OciDeviceRule[];
}

const permissionsPattern = /^(?!.*(.).*\1)[rwm]{1,3}$/;

export async function buildDevices(input: DevicesInput): Promise<DevicesResult> {
  const devices: OciLinuxDevice[] = [];
  let rules: OciDeviceRule[];
  if (input.privileged && !input.privilegedWithoutHostDevices) {
    for (const d of await input.hostDevices()) {
      // 0:0 is not a device a container could use (usually a stale node).
      if (d.major === 0 && d.minor === 0) continue;
      devices.push(ociDevice(d.path, d));
    }
    rules = [{ allow: true, access: 'rwm' }];
  } else {
    rules = defaultDeviceRules();
  }

  for (const [i, d] of input.devices.entries()) {
    const field = `config.devices[${i}]`;
    const containerPath = absolutePath(`${field}.container_path`, d.containerPath);
    const hostPath = absolutePath(`${field}.host_path`, d.hostPath);
    const access = d.permissions === '' ? 'rwm' : d.permissions;
    if (!permissionsPattern.test(access)) {
      throw invalidField(`${field}.permissions`, `${quote(d.permissions)} must be a combination of "r", "w" and "m"`);
    }
    let found: { path: string; info: DeviceInfo }[];
    try {
      found = [{ path: containerPath, info: await input.statDevice(hostPath) }];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') {
        // A directory stands for every device below it, at the same place under container_path.
        found = (await input.hostDevices(hostPath)).map((h) => ({ path: containerPath + h.path.slice(hostPath.length), info: h }));
      } else if (code === 'ENOENT') {
        throw unsatisfiable(`${field}.host_path`, `${quote(hostPath)} does not exist on this node`, err);
      } else if (code === 'ENODEV') {
        throw invalidField(`${field}.host_path`, `${quote(hostPath)} is not a device node`);
      } else {
        throw unsatisfiable(`${field}.host_path`, `cannot use ${quote(hostPath)}: ${(err as Error).message}`, err);
      }
    }
    for (const { path, info } of found) {
      devices.push(ociDevice(path, info));
      rules.push({ allow: true, type: info.type, major: info.major, minor: info.minor, access });
    }
  }
  // A CRI device replaces a host device at the same path (privileged containers).
  const byPath = new Map(devices.map((d) => [d.path, d]));
  return { devices: [...byPath.values()], rules };
}

function ociDevice(path: string, d: DeviceInfo): OciLinuxDevice {
  return { path, type: d.type, major: d.major, minor: d.minor, fileMode: d.mode & 0o777, uid: d.uid, gid: d.gid };
}
