// The cgroup a container is in, read back from the cgroupsPath in its
// bundle's config.json: the spec is what the runtime acted on, whatever the
// pod code would compute today.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupManager } from '../config/schema.js';
import { cgroupsPathDir } from './paths.js';

/** The container's cgroup directory below each hierarchy's root; undefined without a readable spec or path. */
export async function bundleCgroupDir(bundle: string, manager: CgroupManager): Promise<string | undefined> {
  let cgroupsPath: unknown;
  try {
    cgroupsPath = (JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: unknown } }).linux?.cgroupsPath;
  } catch {
    return undefined;
  }
  return typeof cgroupsPath === 'string' ? cgroupsPathDir(cgroupsPath, manager) : undefined;
}
