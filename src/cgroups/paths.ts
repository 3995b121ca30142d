// Where a pod's cgroup is: in the cgroup driver's own syntax (what OCI
// cgroupsPath values are built from) and as a directory below each
// hierarchy's root (what skiff creates, removes and reads stats from).
// Pure functions: no I/O.

import { invalidField, quote } from '../oci/spec/errors.js';
import { systemdSlice } from '../oci/spec/resources.js';
import type { CgroupManager } from '../config/schema.js';

export interface PodCgroup {
  /**
   * The pod cgroup in the driver's syntax: a cgroupfs path
   * ("/kubepods/burstable/pod<uid>") or a slice name under systemd
   * ("kubepods-burstable-pod<uid>.slice"). Containers' cgroupsPath nest in it.
   */
  parent: string;
  /** Its directory below every hierarchy's root, e.g. "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice". */
  path: string;
}

const field = 'config.linux.cgroup_parent';

/**
 * The pod's cgroup. The kubelet names it in cgroup_parent (it is the pod
 * cgroup itself, usually made by the kubelet already); without one the pod
 * gets its own `pod<id>` below skiff's default parent.
 */
export function podCgroup(manager: CgroupManager, requested: string, defaultParent: string, podId: string): PodCgroup {
  if (!/^[0-9a-f]{1,64}$/.test(podId)) throw invalidField('pod sandbox id', `${quote(podId)} is not a valid id`);
  if (manager === 'cgroupfs') {
    const base = requested !== '' ? cleanCgroupfs(requested, field) : cleanCgroupfs(defaultParent, 'default_cgroup_parent');
    const parent = requested !== '' ? base : `${base === '/' ? '' : base}/pod${podId}`;
    if (parent === '/') throw invalidField(field, 'must name a cgroup below the root');
    return { parent, path: parent };
  }
  const slice = requested !== '' ? systemdSlice(requested, field) : childSlice(systemdSlice(defaultParent, 'default_cgroup_parent'), `pod${podId}`);
  if (slice === '-.slice') throw invalidField(field, 'must name a slice below the root slice');
  return { parent: slice, path: sliceDir(slice) };
}

/** A cgroupfs path made absolute and clean; ".." and control characters are refused. */
function cleanCgroupfs(path: string, what = field): string {
  if (/[\0\n]/.test(path)) throw invalidField(what, `${quote(path)} contains a control character`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalidField(what, `${quote(path)} must not contain ".."`);
  return `/${parts.join('/')}`;
}

/** The slice below `parent` named `name`: systemd spells the ancestry into the unit name. */
export function childSlice(parent: string, name: string): string {
  if (parent === '-.slice') return `${name}.slice`;
  return `${parent.replace(/\.slice$/, '')}-${name}.slice`;
}

/** A slice's directory: "a-b-c.slice" lives at "/a.slice/a-b.slice/a-b-c.slice". */
export function sliceDir(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) throw invalidField(field, `${quote(slice)} is not a slice name`);
  if (slice === '-.slice') return '/';
  const words = slice.slice(0, -'.slice'.length).split('-');
  if (words.some((w) => w === '')) throw invalidField(field, `${quote(slice)} is not a valid slice name`);
  return words.map((_, i) => `/${words.slice(0, i + 1).join('-')}.slice`).join('');
}

/** The directory runc uses for a container (cgroupsPath `<parent>/skiff-<id>` or `<slice>:skiff:<id>`). */
export function containerCgroupDir(manager: CgroupManager, pod: PodCgroup, id: string): string {
  return manager === 'cgroupfs' ? `${pod.path}/skiff-${id}` : `${pod.path}/skiff-${id}.scope`;
}

/**
 * runc's reading of an OCI cgroupsPath, as a directory below each hierarchy's
 * root: "slice:prefix:name" under the systemd driver is the scope
 * `<prefix>-<name>.scope` in the slice; any other path is a cgroupfs path.
 * Undefined for a path runc would not accept.
 */
export function cgroupsPathDir(cgroupsPath: string, manager: CgroupManager): string | undefined {
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
