// Stats of a cgroup v1 cgroup: each controller has its own directory.
import { parseFlatKeyed, parseLimit, parseNumber, readCgroupFiles, workingSet, type CgroupSample } from './cgroup_sample.js';

export interface V1Dirs {
  cpuacct?: string;
  memory?: string;
  pids?: string;
}

const memoryFiles = ['memory.usage_in_bytes', 'memory.limit_in_bytes', 'memory.stat', 'memory.memsw.usage_in_bytes', 'memory.memsw.limit_in_bytes'] as const;

/** Undefined when the cgroup exists in none of the controllers (never created, or removed). */
export async function readCgroupV1(dirs: V1Dirs): Promise<CgroupSample | undefined> {
  const none = { found: false, files: {} };
  const [cpu, memory, pids] = await Promise.all([
    dirs.cpuacct ? readCgroupFiles(dirs.cpuacct, ['cpuacct.usage'] as const) : none,
    dirs.memory ? readCgroupFiles(dirs.memory, memoryFiles) : none,
    dirs.pids ? readCgroupFiles(dirs.pids, ['pids.current'] as const) : none,
  ]);
  if (!cpu.found && !memory.found && !pids.found) return undefined;
  return parseCgroupV1({ ...cpu.files, ...memory.files, ...pids.files });
}

type V1Files = Partial<Record<'cpuacct.usage' | 'pids.current' | (typeof memoryFiles)[number], string>>;

/** The sample from the files' contents, by file name. */
function parseCgroupV1(files: V1Files): CgroupSample {
  const sample: CgroupSample = {};
  const cpu = parseNumber(files['cpuacct.usage']);
  if (cpu !== undefined) sample.cpuUsageNs = cpu;
  const usage = parseNumber(files['memory.usage_in_bytes']);
  if (usage !== undefined) {
    const stat = parseFlatKeyed(files['memory.stat'] ?? '');
    // total_* include child cgroups (a pod cgroup's containers); plain keys are this cgroup alone.
    const value = (key: string): number => stat.get(`total_${key}`) ?? stat.get(key) ?? 0;
    const limit = parseLimit(files['memory.limit_in_bytes']);
    sample.memory = {
      usage,
      workingSet: workingSet(usage, value('inactive_file')),
      rss: value('rss'),
      pageFaults: value('pgfault'),
      majorPageFaults: value('pgmajfault'),
      ...(limit !== undefined ? { limit } : {}),
    };
    // memsw counts memory plus swap; present only with swap accounting on.
    const memsw = parseNumber(files['memory.memsw.usage_in_bytes']);
    if (memsw !== undefined) {
      const memswLimit = parseLimit(files['memory.memsw.limit_in_bytes']);
      const swapLimit = memswLimit !== undefined && limit !== undefined ? Math.max(0, memswLimit - limit) : undefined;
      sample.swap = { usage: Math.max(0, memsw - usage), ...(swapLimit !== undefined ? { limit: swapLimit } : {}) };
    }
  }
  const pids = parseNumber(files['pids.current']);
  if (pids !== undefined) sample.pids = pids;
  return sample;
}
