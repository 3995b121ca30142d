// Was the container OOM-killed? conmon creates an empty `oom` file in its
// working directory (the bundle) and in --persist-dir when the container's
// memory cgroup reports an OOM kill (cgroup v1: an eventfd on
// memory.oom_control; v2: inotify on memory.events). conmon can miss the
// event when the kill and the exit arrive together (2.1.6 re-checks only on
// v2), so the cgroup's own oom_kill counter is the fallback while the
// cgroup still exists (until the runtime deletes the container).

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeCgroupLayout, unifiedHierarchy, v1Hierarchy } from '../../cgroups/hierarchies.js';

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

/** The `oom_kill` counter of a memory cgroup (a directory below the hierarchy roots); undefined when unreadable. */
export async function cgroupOomKills(dir: string): Promise<number | undefined> {
  const layout = await nodeCgroupLayout();
  const file =
    layout.version === 2
      ? join(unifiedHierarchy(layout)?.mountPoint ?? '/sys/fs/cgroup', dir, 'memory.events')
      : join(v1Hierarchy(layout, 'memory')?.mountPoint ?? '/sys/fs/cgroup/memory', dir, 'memory.oom_control');
  try {
    const text = await readFile(file, 'utf8');
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
