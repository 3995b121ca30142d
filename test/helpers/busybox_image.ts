// The image the runtime tests run: the host's static busybox with every
// applet linked in /bin, root and nobody in /etc/passwd, a world-writable
// /tmp, and whatever users and files a test adds.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { busybox } from '../oci_runtime/fixtures.js';
import { pushImage } from './image_builder.js';
import type { TestRegistry } from './registry.js';
import type { TarEntry } from './tar_writer.js';

const run = promisify(execFile);

/** A user with a group of its own (no members listed) and a home directory it owns. */
export interface ImageUser {
  name: string;
  uid: number;
  gid: number;
}

export interface BusyboxImageOptions {
  users?: ImageUser[];
  /** More entries, after the base ones. */
  files?: TarEntry[];
}

export async function busyboxLayer(opts: BusyboxImageOptions = {}): Promise<TarEntry[]> {
  const binary = await readFile(busybox);
  const { stdout } = await run(busybox, ['--list']);
  const applets = stdout.split('\n').map((s) => s.trim()).filter((a) => a !== '' && a !== 'busybox');
  const users = opts.users ?? [];
  const passwd = ['root:x:0:0:root:/root:/bin/sh', ...users.map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.name}:/home/${u.name}:/bin/sh`), 'nobody:x:65534:65534:nobody:/:/bin/sh'];
  const group = ['root:x:0:', ...users.map((u) => `${u.name}:x:${u.gid}:`), 'nogroup:x:65534:'];
  return [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: binary, mode: 0o755 },
    ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: `${passwd.join('\n')}\n` },
    { name: 'etc/group', data: `${group.join('\n')}\n` },
    ...(users.length ? [{ name: 'home/', type: 'dir' } as TarEntry] : []),
    ...users.map((u): TarEntry => ({ name: `home/${u.name}/`, type: 'dir', uid: u.uid, gid: u.gid })),
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
    ...(opts.files ?? []),
  ];
}

/** Pushes the busybox image as `repo:v1`; returns its reference. */
export async function pushBusybox(registry: TestRegistry, repo: string, opts: BusyboxImageOptions = {}): Promise<string> {
  await pushImage(registry, repo, 'v1', { layers: [await busyboxLayer(opts)], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  return `${registry.host}/${repo}:v1`;
}
