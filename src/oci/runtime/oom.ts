// Was the container OOM-killed? conmon creates an empty `oom` file in its
// working directory (the bundle) and in --persist-dir when the container's
// memory cgroup reports an OOM kill (cgroup v1: an eventfd on
// memory.oom_control; v2: inotify on memory.events). conmon can miss the
// event when the kill and the exit arrive together (2.1.6 re-checks only on
// v2), so the cgroup's own oom_kill counter is the fallback while the
// cgroup still exists (until the runtime deletes the container).

import { readFile, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

const cgroupRoot = '/sys/fs/cgroup';
const cgroup2Magic = 0x63677270;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** conmon's oom marker in the bundle or the persist dir. */
export async function oomFileExists(bundle: string, persistDir?: string): Promise<boolean> {
  const paths = [join(bundle, 'oom'), ...(persistDir ? [join(persistDir, 'oom')] : [])];
  const found = await Promise.all(paths.map(exists));
  return found.some(Boolean);
}

/**
 * The cgroup directory (relative to a hierarchy root) that a spec's
 * linux.cgroupsPath names: a path for cgroupfs, "slice:prefix:name" for the
 * systemd driver (the slice expanded as systemd nests it).
 */
export function cgroupDir(cgroupsPath: string, systemd: boolean): string {
  if (!systemd) return cgroupsPath.startsWith('/') ? cgroupsPath : `/${cgroupsPath}`;
  const [slice = '', prefix = '', name = ''] = cgroupsPath.split(':');
  return `/${[...expandSlice(slice), `${prefix}-${name}.scope`].join('/')}`;
}

/** "a-b-c.slice" → ["a.slice", "a-b.slice", "a-b-c.slice"]; "-.slice" or "" → []. */
export function expandSlice(slice: string): string[] {
  if (slice === '' || slice === '-.slice' || !slice.endsWith('.slice')) return [];
  const parts = slice.slice(0, -'.slice'.length).split('-');
  return parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`);
}

let cgroup2: Promise<boolean> | undefined;
/** The unified hierarchy alone is mounted at /sys/fs/cgroup (what conmon checks too). */
export function isCgroup2(): Promise<boolean> {
  cgroup2 ??= statfs(cgroupRoot).then(
    (s) => s.type === cgroup2Magic,
    () => false,
  );
  return cgroup2;
}

/** The `oom_kill` counter of the container's memory cgroup; undefined when unreadable. */
export async function cgroupOomKills(cgroupsPath: string, systemd: boolean): Promise<number | undefined> {
  const dir = cgroupDir(cgroupsPath, systemd);
  const file = (await isCgroup2()) ? join(cgroupRoot, dir, 'memory.events') : join(cgroupRoot, 'memory', dir, 'memory.oom_control');
  try {
    const text = await readFile(file, 'utf8');
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** linux.cgroupsPath of the bundle's config.json; undefined when absent. */
export async function bundleCgroupsPath(bundle: string): Promise<string | undefined> {
  try {
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: unknown } };
    const path = spec.linux?.cgroupsPath;
    return typeof path === 'string' && path !== '' ? path : undefined;
  } catch {
    return undefined;
  }
}
