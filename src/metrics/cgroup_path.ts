// The cgroup the OCI runtime put a container in, read back from the
// cgroupsPath of its spec: the spec is what runc acted on, whatever the pod
// code computes today.
import { sliceDir } from '../cgroups/paths.js';
import type { CgroupManager } from '../config/schema.js';

/**
 * runc's reading of an OCI cgroupsPath, as a directory below each hierarchy's
 * root: "slice:prefix:name" under the systemd driver is the scope
 * `<prefix>-<name>.scope` in the slice; any other path is a cgroupfs path.
 */
export function containerCgroup(cgroupsPath: string, manager: CgroupManager): string | undefined {
  if (cgroupsPath === '' || /[\0\n]/.test(cgroupsPath)) return undefined;
  if (manager === 'systemd') {
    const [slice = '', prefix = '', name = '', ...rest] = cgroupsPath.split(':');
    if (rest.length > 0 || name === '') return undefined;
    const unit = name.endsWith('.slice') ? name : `${prefix ? `${prefix}-` : ''}${name}.scope`;
    try {
      const parent = sliceDir(slice || 'system.slice');
      return `${parent === '/' ? '' : parent}/${unit}`;
    } catch {
      return undefined;
    }
  }
  const parts = cgroupsPath.split('/').filter((p) => p !== '' && p !== '.');
  return parts.includes('..') ? undefined : `/${parts.join('/')}`;
}
