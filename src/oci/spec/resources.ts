// cgroup limits (CRI LinuxContainerResources → OCI linux.resources), the
// container's cgroup path for either cgroup driver, and the oom_score_adj
// the runtime may actually set.

import { access, readFile, statfs } from 'node:fs/promises';
import type { LinuxContainerResources } from '../../proto/cri.js';
import { invalidField, quote, unsatisfiable } from './errors.js';
import type { OciResources } from './types.js';

/** What the node's cgroup setup can do; detected once by `detectCgroupHost`. */
export interface CgroupHost {
  version: 1 | 2;
  /** Swap accounting is available (v1 memory.memsw.*, always on v2). */
  memorySwap: boolean;
  /** The hugetlb controller is available. */
  hugetlb: boolean;
}

const cgroup2Magic = 0x63677270;

/** Looks at /sys/fs/cgroup (or `root`): the version and the optional controllers. */
export async function detectCgroupHost(root = '/sys/fs/cgroup'): Promise<CgroupHost> {
  const v2 = await statfs(root).then(
    (s) => s.type === cgroup2Magic,
    () => false,
  );
  if (v2) {
    const controllers = await readFile(`${root}/cgroup.controllers`, 'utf8').then(
      (t) => t.trim().split(/\s+/),
      () => [] as string[],
    );
    return { version: 2, memorySwap: true, hugetlb: controllers.includes('hugetlb') };
  }
  const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
  const [memorySwap, hugetlb] = await Promise.all([exists(`${root}/memory/memory.memsw.limit_in_bytes`), exists(`${root}/hugetlb`)]);
  return { version: 1, memorySwap, hugetlb };
}

let hostCgroups: Promise<CgroupHost> | undefined;

/** This node's cgroup setup, detected on first use. */
export function nodeCgroupHost(): Promise<CgroupHost> {
  hostCgroups ??= detectCgroupHost();
  return hostCgroups;
}

const cpuList = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const pageSize = /^[1-9]\d*(KB|MB|GB|TB|PB)$/;
// "<controller>.<file>", no path separators: runc writes it below the cgroup dir.
const unifiedKey = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;

export interface ResourcesOptions {
  host: CgroupHost;
  /** The CRI path of the resources message, e.g. "config.linux.resources". */
  field: string;
  /** pids.max for the container; 0 or undefined = unlimited. */
  pidsLimit?: number;
}

function nonNegative(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw invalidField(field, `${value} must be a non-negative integer`);
  return value;
}

/** OCI linux.resources for the CRI resources (device rules are added by devices.ts). */
export function buildResources(res: LinuxContainerResources | null | undefined, opts: ResourcesOptions): OciResources {
  const out: OciResources = {};
  const f = opts.field;
  if (opts.pidsLimit !== undefined && opts.pidsLimit > 0) out.pids = { limit: opts.pidsLimit };
  if (!res) return out;

  const cpu: NonNullable<OciResources['cpu']> = {};
  if (nonNegative(`${f}.cpu_shares`, res.cpuShares) > 0) cpu.shares = res.cpuShares;
  // -1 is the cgroup "no limit" and is what a resize that drops a limit sends.
  if (res.cpuQuota === -1) cpu.quota = -1;
  else if (nonNegative(`${f}.cpu_quota`, res.cpuQuota) > 0) cpu.quota = res.cpuQuota;
  if (nonNegative(`${f}.cpu_period`, res.cpuPeriod) > 0) cpu.period = res.cpuPeriod;
  if (res.cpusetCpus !== '') {
    if (!cpuList.test(res.cpusetCpus)) throw invalidField(`${f}.cpuset_cpus`, `${quote(res.cpusetCpus)} is not a CPU list such as "0-3,6"`);
    cpu.cpus = res.cpusetCpus;
  }
  if (res.cpusetMems !== '') {
    if (!cpuList.test(res.cpusetMems)) throw invalidField(`${f}.cpuset_mems`, `${quote(res.cpusetMems)} is not a node list such as "0-1"`);
    cpu.mems = res.cpusetMems;
  }
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  const memory: NonNullable<OciResources['memory']> = {};
  const limit = nonNegative(`${f}.memory_limit_in_bytes`, res.memoryLimitInBytes);
  if (limit > 0) memory.limit = limit;
  // OCI swap is memory+swap (the v1 memsw meaning); runc converts for v2.
  const swap = res.memorySwapLimitInBytes;
  if (swap === -1) {
    memory.swap = -1;
  } else if (nonNegative(`${f}.memory_swap_limit_in_bytes`, swap) > 0) {
    if (limit > 0 && swap < limit) {
      throw invalidField(`${f}.memory_swap_limit_in_bytes`, `${swap} is below memory_limit_in_bytes ${limit} (it counts memory plus swap)`);
    }
    if (!opts.host.memorySwap) {
      throw unsatisfiable(`${f}.memory_swap_limit_in_bytes`, 'this node has no swap accounting (memory.memsw)');
    }
    memory.swap = swap;
  } else if (limit > 0 && opts.host.memorySwap) {
    // No swap unless asked for, as containerd and CRI-O do.
    memory.swap = limit;
  }
  if (Object.keys(memory).length > 0) out.memory = memory;

  const hugepages: { pageSize: string; limit: number }[] = [];
  for (const [i, h] of (res.hugepageLimits ?? []).entries()) {
    const hf = `${f}.hugepage_limits[${i}]`;
    if (!pageSize.test(h.pageSize)) throw invalidField(`${hf}.page_size`, `${quote(h.pageSize)} is not a page size such as "2MB" or "1GB"`);
    nonNegative(`${hf}.limit`, h.limit);
    hugepages.push({ pageSize: h.pageSize, limit: h.limit });
  }
  if (hugepages.length > 0) {
    if (opts.host.hugetlb) {
      out.hugepageLimits = hugepages;
    } else {
      // The kubelet sends a zero limit for every page size the node has;
      // without the controller those say nothing, real limits cannot be kept.
      const i = hugepages.findIndex((h) => h.limit > 0);
      if (i >= 0) throw unsatisfiable(`${f}.hugepage_limits[${i}]`, 'this node has no hugetlb cgroup controller');
    }
  }

  const unified = Object.entries(res.unified ?? {});
  if (unified.length > 0) {
    if (opts.host.version !== 2) throw unsatisfiable(`${f}.unified`, 'needs cgroup v2; this node runs cgroup v1');
    out.unified = {};
    for (const [key, value] of unified) {
      if (!unifiedKey.test(key)) throw invalidField(`${f}.unified`, `${quote(key)} is not a cgroup v2 file name such as "memory.high"`);
      if (/[\0\n]/.test(value)) throw invalidField(`${f}.unified[${quote(key)}]`, 'must not contain a newline or NUL');
      out.unified[key] = value;
    }
  }
  return out;
}

/**
 * The oom_score_adj to give the process: the request, raised to the daemon's
 * own value when lower (lowering needs CAP_SYS_RESOURCE, which the node may
 * not grant us).
 */
export function oomScoreAdj(field: string, requested: number, own: number): number {
  if (!Number.isInteger(requested) || requested < -1000 || requested > 1000) {
    throw invalidField(field, `${requested} is outside -1000..1000`);
  }
  return Math.max(requested, own);
}

export type CgroupManager = 'cgroupfs' | 'systemd';

/** The parent used when the pod names none. */
const defaultParent: Record<CgroupManager, string> = { cgroupfs: '/skiff', systemd: 'system.slice' };

/**
 * The OCI cgroupsPath: `<parent>/skiff-<id>` for cgroupfs, `<slice>:skiff:<id>`
 * for systemd (runc's and crun's "slice:prefix:name" form).
 */
export function cgroupsPath(manager: CgroupManager, parent: string, id: string, field = 'sandbox_config.linux.cgroup_parent'): string {
  if (parent.includes('\0') || parent.split('/').includes('..')) throw invalidField(field, `${quote(parent)} is not a clean cgroup path`);
  if (manager === 'cgroupfs') {
    const clean = parent.split('/').filter((p) => p !== '' && p !== '.');
    const base = clean.length > 0 ? `/${clean.join('/')}` : defaultParent.cgroupfs;
    return `${base}/skiff-${id}`;
  }
  return `${systemdSlice(parent, field)}:skiff:${id}`;
}

/**
 * The slice a systemd-driver cgroup_parent names. The kubelet sends a slice
 * name ("kubepods-burstable-pod1.slice"); a cgroupfs-style path is converted
 * the way the kubelet converts one ("/kubepods/burstable" → "kubepods-burstable.slice").
 */
export function systemdSlice(parent: string, field = 'sandbox_config.linux.cgroup_parent'): string {
  const parts = parent.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return defaultParent.systemd;
  const last = parts[parts.length - 1] ?? '';
  if (last.endsWith('.slice')) {
    if (last === '.slice' || /[\s:]/.test(last)) throw invalidField(field, `${quote(parent)} is not a valid slice name`);
    return last;
  }
  const names = parts.map((p) => p.replaceAll('-', '_'));
  if (names.some((n) => /[\s:]/.test(n))) throw invalidField(field, `${quote(parent)} cannot be turned into a slice name`);
  return `${names.join('-')}.slice`;
}
