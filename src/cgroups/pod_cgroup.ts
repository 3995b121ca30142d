// The pod cgroup on disk (cgroupfs driver): made in every mounted hierarchy
// when the kubelet has not made it, sized from the pod's resources when
// skiff made it, and removed again only when skiff made it and it is empty.
// Under the systemd driver systemd makes slices itself when the first scope
// lands in one, so nothing is done here.

import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LinuxContainerResources } from '../proto/cri.js';
import type { OciResources } from '../oci/spec/types.js';
import { unifiedHierarchy, v1Hierarchy, type CgroupLayout, type Hierarchy } from './hierarchies.js';

/**
 * Creates `path` in every hierarchy, level by level; true when skiff made the
 * pod's own directory (it was missing). A failure removes what this call made.
 */
export async function createPodCgroup(layout: CgroupLayout, path: string): Promise<boolean> {
  const made: string[] = [];
  try {
    const leafMade = await Promise.all(layout.hierarchies.map((h) => createIn(h, path, made)));
    return leafMade.some(Boolean);
  } catch (err) {
    // Deepest first: a level can only go once its children are gone.
    for (const dir of made.sort((a, b) => b.length - a.length)) await rmdir(dir).catch(() => undefined);
    throw err;
  }
}

async function createIn(h: Hierarchy, path: string, made: string[]): Promise<boolean> {
  const parts = path.split('/').filter((p) => p !== '');
  let dir = h.mountPoint;
  let leafMade = false;
  for (const part of parts) {
    const parent = dir;
    dir = join(dir, part);
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    made.push(dir);
    leafMade = dir === join(h.mountPoint, ...parts);
    await initLevel(h, parent, dir);
  }
  return leafMade;
}

/**
 * A new v1 cpuset cgroup starts with no CPUs and no memory nodes (no task
 * could join it); it gets its parent's. A new v2 level needs its parent to
 * hand the controllers down.
 */
async function initLevel(h: Hierarchy, parent: string, dir: string): Promise<void> {
  if (h.version === 1 && h.controllers.includes('cpuset')) {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const value = await inheritedValue(h.mountPoint, parent, file);
      if (value !== '') await writeFile(join(dir, file), value);
    }
  }
  if (h.version === 2) await enableControllers(parent);
}

/** The nearest non-empty value up the tree (a level a concurrent call made may not be filled in yet). */
async function inheritedValue(root: string, from: string, file: string): Promise<string> {
  for (let dir = from; ; dir = dirname(dir)) {
    const value = (await readFile(join(dir, file), 'utf8')).trim();
    if (value !== '' || dir.length <= root.length) return value;
  }
}

/** Best effort: a controller the parent cannot hand down (it has tasks, say) is left off. */
async function enableControllers(dir: string): Promise<void> {
  const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean);
  for (const c of available) await writeFile(join(dir, 'cgroup.subtree_control'), `+${c}`).catch(() => undefined);
}

/**
 * Removes the pod's directory from every hierarchy. Returns the hierarchies
 * where it could not go because something still lives in it (EBUSY).
 */
export async function removePodCgroup(layout: CgroupLayout, path: string): Promise<string[]> {
  const busy: string[] = [];
  await Promise.all(
    layout.hierarchies.map(async (h) => {
      const dir = join(h.mountPoint, path);
      try {
        await rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code === 'EBUSY' || code === 'ENOTEMPTY') busy.push(dir);
        else throw err;
      }
    }),
  );
  return busy;
}

/**
 * What the pod as a whole may use: the kubelet's sum of its containers plus
 * the runtime-class overhead. Undefined when the kubelet sent neither.
 */
export function podResources(resources: LinuxContainerResources | null | undefined, overhead: LinuxContainerResources | null | undefined): LinuxContainerResources | undefined {
  if (!resources && !overhead) return undefined;
  const r = unlimitedResources(resources ?? {});
  const o = unlimitedResources(overhead ?? {});
  const period = r.cpuPeriod || o.cpuPeriod;
  // Without a quota (or a memory limit) for its containers the pod is unbounded, overhead or not.
  const quota = r.cpuQuota > 0 ? r.cpuQuota + (o.cpuQuota > 0 ? Math.round((o.cpuQuota * period) / (o.cpuPeriod || period)) : 0) : r.cpuQuota;
  return {
    ...r,
    cpuPeriod: period,
    cpuQuota: quota,
    cpuShares: r.cpuShares + o.cpuShares,
    memoryLimitInBytes: r.memoryLimitInBytes > 0 ? r.memoryLimitInBytes + o.memoryLimitInBytes : r.memoryLimitInBytes,
    oomScoreAdj: 0,
  };
}

/** LinuxContainerResources with `over` and every other field at its proto3 default (no limit). */
export function unlimitedResources(over: Partial<LinuxContainerResources> = {}): LinuxContainerResources {
  return {
    cpuPeriod: 0,
    cpuQuota: 0,
    cpuShares: 0,
    memoryLimitInBytes: 0,
    oomScoreAdj: 0,
    cpusetCpus: '',
    cpusetMems: '',
    hugepageLimits: [],
    unified: {},
    memorySwapLimitInBytes: 0,
    ...over,
  };
}

type Write = [dir: string | undefined, file: string, value: string | number];

/** A v1 memory cgroup's memory+swap limit now; NaN when unreadable (a new cgroup reads as unlimited). */
async function memswLimit(dir: string | undefined): Promise<number> {
  if (dir === undefined) return NaN;
  return Number((await readFile(join(dir, 'memory.memsw.limit_in_bytes'), 'utf8').catch(() => '')).trim() || NaN);
}

/** Writes OCI resources into the pod cgroup's files (v1 controllers, or the v2 tree); also to resize it. */
export async function applyPodResources(layout: CgroupLayout, path: string, res: OciResources): Promise<void> {
  const writes: Write[] = [];
  const { cpu, memory, pids } = res;
  if (layout.version === 1) {
    const at = (controller: string): string | undefined => {
      const h = v1Hierarchy(layout, controller);
      return h ? join(h.mountPoint, path) : undefined;
    };
    if (cpu?.shares) writes.push([at('cpu'), 'cpu.shares', cpu.shares]);
    if (cpu?.period) writes.push([at('cpu'), 'cpu.cfs_period_us', cpu.period]);
    if (cpu?.quota) writes.push([at('cpu'), 'cpu.cfs_quota_us', cpu.quota]);
    if (cpu?.cpus) writes.push([at('cpuset'), 'cpuset.cpus', cpu.cpus]);
    if (cpu?.mems) writes.push([at('cpuset'), 'cpuset.mems', cpu.mems]);
    const limit: Write | undefined = memory?.limit ? [at('memory'), 'memory.limit_in_bytes', memory.limit] : undefined;
    const memsw = memory?.swap ? await memswLimit(at('memory')) : NaN;
    // "No swap limit" needs no write where the kernel keeps no memsw accounting.
    const swap: Write | undefined = memory?.swap && !(memory.swap === -1 && Number.isNaN(memsw)) ? [at('memory'), 'memory.memsw.limit_in_bytes', memory.swap] : undefined;
    // The limit may never exceed memsw: a growing limit goes after memsw, a shrinking one before.
    const swapFirst = swap !== undefined && (memory?.swap === -1 || (limit !== undefined && memsw < Number(limit[2])));
    for (const w of swapFirst ? [swap, limit] : [limit, swap]) if (w) writes.push(w);
    if (pids?.limit) writes.push([at('pids'), 'pids.max', pids.limit]);
  } else {
    const h = unifiedHierarchy(layout);
    const dir = h ? join(h.mountPoint, path) : undefined;
    if (cpu?.shares) writes.push([dir, 'cpu.weight', cpuWeight(cpu.shares)]);
    if (cpu?.quota || cpu?.period) writes.push([dir, 'cpu.max', `${cpu.quota && cpu.quota > 0 ? cpu.quota : 'max'} ${cpu.period || 100000}`]);
    if (cpu?.cpus) writes.push([dir, 'cpuset.cpus', cpu.cpus]);
    if (cpu?.mems) writes.push([dir, 'cpuset.mems', cpu.mems]);
    if (memory?.limit) writes.push([dir, 'memory.max', memory.limit]);
    // OCI swap counts memory plus swap; v2 limits swap alone.
    if (memory?.swap === -1) writes.push([dir, 'memory.swap.max', 'max']);
    else if (memory?.swap && memory.limit) writes.push([dir, 'memory.swap.max', Math.max(0, memory.swap - memory.limit)]);
    if (pids?.limit) writes.push([dir, 'pids.max', pids.limit]);
    for (const [key, value] of Object.entries(res.unified ?? {})) writes.push([dir, key, value]);
  }
  for (const [dir, file, value] of writes) {
    if (dir === undefined) throw new Error(`pod cgroup ${path}: no hierarchy mounted for ${file}`);
    try {
      await writeFile(join(dir, file), String(value));
    } catch (err) {
      throw new Error(`pod cgroup ${path}: cannot write ${value} to ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts them. */
export function cpuWeight(shares: number): number {
  if (shares <= 0) return 0;
  return 1 + Math.floor(((Math.min(Math.max(shares, 2), 262144) - 2) * 9999) / 262142);
}
