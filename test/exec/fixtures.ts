// What the exec tests share: a busybox image (every applet of the host's
// static busybox) in a real registry, a test-only CNI bridge network, and
// host cleanup of that network.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushImage } from '../helpers/image_builder.js';
import type { TestRegistry } from '../helpers/registry.js';
import type { TarEntry } from '../helpers/tar_writer.js';
import { busybox, hostProblem } from '../oci_runtime/fixtures.js';

export const run = promisify(execFile);
export const cniPluginDir = '/usr/lib/cni';

/** Why this host cannot run the exec tests, or false when it can. */
export const execProblem = (): Promise<string | false> => hostProblem();

async function busyboxLayer(): Promise<TarEntry[]> {
  const binary = await readFile(busybox);
  const { stdout } = await run(busybox, ['--list']);
  const applets = stdout.split('\n').map((s) => s.trim()).filter((a) => a !== '' && a !== 'busybox');
  return [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: binary, mode: 0o755 },
    ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' },
    { name: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
  ];
}

/** Pushes the busybox image; returns its reference. */
export async function pushBusybox(registry: TestRegistry, repo: string): Promise<string> {
  await pushImage(registry, repo, 'v1', { layers: [await busyboxLayer()], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  return `${registry.host}/${repo}:v1`;
}

/** A bridge network of the test's own: bridge name and subnet unique to it. */
export async function writeBridgeNetwork(cniDir: string, ipamDir: string, bridge: string, subnet: string): Promise<void> {
  await writeFile(
    join(cniDir, '10-exec-test.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: `skiff-${bridge}`,
      plugins: [{ type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: ipamDir } }],
    }),
  );
}

export async function removeBridge(bridge: string): Promise<void> {
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
}

let counter = 0;

export function podConfig(name: string, logDirectory: string, extra: Record<string, unknown> = {}): Record<string, any> {
  const uid = `uid-${name}-${process.pid}-${counter++}`;
  return { metadata: { name, namespace: 'exec-test', uid, attempt: 0 }, hostname: name, logDirectory, labels: { suite: 'exec' }, ...extra };
}

export function containerConfig(image: string, name: string, command: string[], extra: Record<string, unknown> = {}): Record<string, any> {
  return { metadata: { name: `${name}-${counter++}`, attempt: 0 }, image: { image }, command, logPath: `${name}-${counter}.log`, ...extra };
}
