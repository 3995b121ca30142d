// Stats of a cgroup v2 cgroup: one directory holds every controller's files.
import { parseFlatKeyed, parseLimit, parseNumber, parsePressure, readCgroupFiles, workingSet, type CgroupSample } from './cgroup_sample.js';

const files = [
  'cpu.stat',
  'memory.current',
  'memory.max',
  'memory.stat',
  'memory.swap.current',
  'memory.swap.max',
  'pids.current',
  'cpu.pressure',
  'memory.pressure',
  'io.pressure',
] as const;

type V2Files = Partial<Record<(typeof files)[number], string>>;

/** Undefined when the cgroup does not exist (never created, or removed). */
export async function readCgroupV2(dir: string): Promise<CgroupSample | undefined> {
  const read = await readCgroupFiles(dir, files);
  return read.found ? parseCgroupV2(read.files) : undefined;
}

/** The sample from the files' contents, by file name. */
function parseCgroupV2(f: V2Files): CgroupSample {
  const sample: CgroupSample = {};
  if (f['cpu.stat'] !== undefined) {
    const usec = parseFlatKeyed(f['cpu.stat']).get('usage_usec');
    if (usec !== undefined) sample.cpuUsageNs = usec * 1000;
  }
  const usage = parseNumber(f['memory.current']);
  if (usage !== undefined) {
    const stat = parseFlatKeyed(f['memory.stat'] ?? '');
    const limit = parseLimit(f['memory.max']);
    sample.memory = {
      usage,
      workingSet: workingSet(usage, stat.get('inactive_file') ?? 0),
      // "anon" already includes transparent huge pages (anon_thp is a breakdown of it).
      rss: stat.get('anon') ?? 0,
      pageFaults: stat.get('pgfault') ?? 0,
      majorPageFaults: stat.get('pgmajfault') ?? 0,
      ...(limit !== undefined ? { limit } : {}),
    };
  }
  const swap = parseNumber(f['memory.swap.current']);
  if (swap !== undefined) {
    const swapLimit = parseLimit(f['memory.swap.max']);
    sample.swap = { usage: swap, ...(swapLimit !== undefined ? { limit: swapLimit } : {}) };
  }
  const pids = parseNumber(f['pids.current']);
  if (pids !== undefined) sample.pids = pids;
  const psi = {
    ...(f['cpu.pressure'] !== undefined ? { cpu: parsePressure(f['cpu.pressure']) } : {}),
    ...(f['memory.pressure'] !== undefined ? { memory: parsePressure(f['memory.pressure']) } : {}),
    ...(f['io.pressure'] !== undefined ? { io: parsePressure(f['io.pressure']) } : {}),
  };
  if (Object.keys(psi).length > 0) sample.psi = psi;
  return sample;
}
