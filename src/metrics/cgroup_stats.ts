// Reads one cgroup on whichever cgroup version the host runs.
import { posix } from 'node:path';
import { unifiedHierarchy, v1Hierarchy, type CgroupLayout } from '../cgroups/hierarchies.js';
import type { CgroupSample } from './cgroup_sample.js';
import { readCgroupV1 } from './cgroup_v1.js';
import { readCgroupV2 } from './cgroup_v2.js';

/** `path` is the cgroup's directory below the hierarchy roots ("/skiff/skiff-<id>"); undefined when it does not exist. */
export function readCgroup(layout: CgroupLayout, path: string): Promise<CgroupSample | undefined> {
  if (layout.version === 2) {
    const tree = unifiedHierarchy(layout);
    return tree ? readCgroupV2(posix.join(tree.mountPoint, path)) : Promise.resolve(undefined);
  }
  const dir = (controller: string): string | undefined => {
    const hierarchy = v1Hierarchy(layout, controller);
    return hierarchy ? posix.join(hierarchy.mountPoint, path) : undefined;
  };
  return readCgroupV1({ cpuacct: dir('cpuacct'), memory: dir('memory'), pids: dir('pids') });
}
