// The cgroup hierarchies mounted on this node, read from mountinfo: every
// v1 hierarchy with its controllers, and the v2 tree (the whole of
// /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one).

import { readFile } from 'node:fs/promises';

export interface Hierarchy {
  version: 1 | 2;
  mountPoint: string;
  /** v1: the controllers bound to it ("name=systemd" for a named one); v2: empty. */
  controllers: string[];
}

export interface CgroupLayout {
  /** 2 when the unified tree carries the controllers (a pure v2 node). */
  version: 1 | 2;
  hierarchies: Hierarchy[];
}

/** Parses /proc/self/mountinfo text; one entry per hierarchy, its first mount winning. */
export function parseCgroupMounts(mountinfo: string): CgroupLayout {
  const hierarchies: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const [fsType, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const device = fields[2] ?? '';
    const root = fields[3] ?? '';
    const mountPoint = unescapeMount(fields[4] ?? '');
    // Only a mount of the hierarchy's root shows the whole tree.
    if (root !== '/' || seen.has(device) || mountPoint === '') continue;
    seen.add(device);
    if (fsType === 'cgroup2') {
      hierarchies.push({ version: 2, mountPoint, controllers: [] });
    } else {
      const controllers = superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro' && (!o.includes('=') || o.startsWith('name=')) && !['noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode'].includes(o));
      hierarchies.push({ version: 1, mountPoint, controllers });
    }
  }
  const v1 = hierarchies.some((h) => h.version === 1);
  return { version: v1 ? 1 : 2, hierarchies };
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

let layout: Promise<CgroupLayout> | undefined;

/** This node's hierarchies, read once. */
export function nodeCgroupLayout(): Promise<CgroupLayout> {
  layout ??= readFile('/proc/self/mountinfo', 'utf8').then(parseCgroupMounts);
  return layout;
}

/** The v1 hierarchy holding `controller`, if any. */
export function v1Hierarchy(layout: CgroupLayout, controller: string): Hierarchy | undefined {
  return layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller));
}

/** The v2 tree, if mounted. */
export function unifiedHierarchy(layout: CgroupLayout): Hierarchy | undefined {
  return layout.hierarchies.find((h) => h.version === 2);
}
