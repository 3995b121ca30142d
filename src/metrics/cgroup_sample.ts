// One reading of a cgroup's counters, the same shape for v1 and v2, and the
// parsers of the file formats both versions share.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Pressure {
  /** Cumulative stall time, nanoseconds. */
  total: number;
  avg10: number;
  avg60: number;
  avg300: number;
}

/** "some" and "full" lines of a PSI file (full is absent for cpu on older kernels). */
export interface PressureStats {
  some?: Pressure;
  full?: Pressure;
}

export interface MemorySample {
  /** All memory charged to the cgroup. */
  usage: number;
  /** usage minus inactive file pages: what the kubelet evicts on. */
  workingSet: number;
  rss: number;
  pageFaults: number;
  majorPageFaults: number;
  /** Undefined when unlimited. */
  limit?: number;
}

export interface CgroupSample {
  /** Cumulative CPU time, nanoseconds. */
  cpuUsageNs?: number;
  memory?: MemorySample;
  swap?: { usage: number; limit?: number };
  /** Tasks in the cgroup (pids.current). */
  pids?: number;
  psi?: { cpu?: PressureStats; memory?: PressureStats; io?: PressureStats };
}

/** Values at or above this mean "no limit" (v1 writes PAGE_COUNTER_MAX pages in bytes, about 2^63). */
const unlimited = 2 ** 62;

/** A limit file's value: undefined for "max" or the v1 near-2^63 sentinel. */
export function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  if (value === 'max' || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 && n < unlimited ? n : undefined;
}

/** A single-number file. */
export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/** "key value" per line (memory.stat, cpu.stat, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (!key || value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) values.set(key, n);
  }
  return values;
}

/** A PSI file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=123" (total in microseconds). */
export function parsePressure(text: string): PressureStats {
  const stats: PressureStats = {};
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const fields = new Map(pairs.map((p) => p.split('=') as [string, string]));
    stats[kind] = {
      total: (Number(fields.get('total')) || 0) * 1000,
      avg10: Number(fields.get('avg10')) || 0,
      avg60: Number(fields.get('avg60')) || 0,
      avg300: Number(fields.get('avg300')) || 0,
    };
  }
  return stats;
}

/** The working set as cAdvisor and the kubelet define it: usage less inactive file pages, never negative. */
export function workingSet(usage: number, inactiveFile: number): number {
  return Math.max(0, usage - inactiveFile);
}

/**
 * Reads `names` in `dir` concurrently. A missing file reads as undefined;
 * `found` is false when the directory itself is gone (the cgroup was removed).
 */
export async function readCgroupFiles<K extends string>(dir: string, names: readonly K[]): Promise<{ found: boolean; files: Partial<Record<K, string>> }> {
  const files: Partial<Record<K, string>> = {};
  let found = false;
  await Promise.all(
    names.map(async (name) => {
      try {
        files[name] = await readFile(join(dir, name), 'utf8');
        found = true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENODEV/EOPNOTSUPP: the kernel has the file but not the feature (e.g. PSI switched off).
        if (code !== 'ENOENT' && code !== 'ENODEV' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP') throw err;
      }
    }),
  );
  return { found, files };
}
