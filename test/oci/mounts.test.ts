import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { buildMounts, type PodFiles } from '../../src/oci/spec/mounts.js';
import { MountPropagation, type Mount } from '../../src/proto/cri.js';
import { baseInput, containerConfig, fakeRootfs, mount, rpcError } from './helpers.js';

const files: PodFiles = { hostname: '/run/p/hostname', hosts: '/run/p/hosts', resolvConf: '/run/p/resolv.conf', shm: '/run/p/shm' };

describe('mounts', () => {
  let host: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    host = await fakeRootfs({ '/data/file': 'x', '/logs/a': 'y' });
  });
  after(() => host.cleanup());

  const build = (mounts: Mount[], opts: { privileged?: boolean; readonlyRootfs?: boolean } = {}): ReturnType<typeof buildMounts> =>
    buildMounts({ mounts, files, privileged: opts.privileged ?? false, readonlyRootfs: opts.readonlyRootfs ?? false });

  it('defaults: proc, dev, pts, the pod shm, mqueue, ro sysfs and cgroup, the pod files', async () => {
    const { mounts, rootfsPropagation } = await build([]);
    assert.equal(rootfsPropagation, undefined);
    assert.deepEqual(
      mounts.map((m) => `${m.destination} ${m.type} ${m.source}`),
      [
        '/proc proc proc',
        '/dev tmpfs tmpfs',
        '/sys sysfs sysfs',
        '/dev/pts devpts devpts',
        '/dev/shm bind /run/p/shm',
        '/dev/mqueue mqueue mqueue',
        '/etc/hostname bind /run/p/hostname',
        '/etc/hosts bind /run/p/hosts',
        '/etc/resolv.conf bind /run/p/resolv.conf',
        '/sys/fs/cgroup cgroup cgroup',
      ],
    );
    const byDest = new Map(mounts.map((m) => [m.destination, m]));
    assert.ok(byDest.get('/sys')?.options?.includes('ro'));
    assert.ok(byDest.get('/sys/fs/cgroup')?.options?.includes('ro'));
    assert.deepEqual(byDest.get('/etc/hosts')?.options, ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec', 'rw']);
    assert.deepEqual(byDest.get('/dev/shm')?.options, ['rbind', 'rprivate', 'nosuid', 'noexec', 'nodev']);
  });

  it('privileged: sysfs and cgroup read-write; read-only root: pod files read-only', async () => {
    const priv = new Map((await build([], { privileged: true })).mounts.map((m) => [m.destination, m]));
    assert.ok(priv.get('/sys')?.options?.includes('rw'));
    assert.ok(priv.get('/sys/fs/cgroup')?.options?.includes('rw'));
    const ro = new Map((await build([], { readonlyRootfs: true })).mounts.map((m) => [m.destination, m]));
    assert.equal(ro.get('/etc/resolv.conf')?.options?.at(-1), 'ro');
  });

  it('CRI mounts: rbind, propagation, ro/rw, and parents before children', async () => {
    const data = join(host.dir, 'data');
    const logs = join(host.dir, 'logs');
    const { mounts, rootfsPropagation } = await build([
      mount({ containerPath: '/var/lib/app/cache', hostPath: data, propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
      mount({ containerPath: '/var/lib/app', hostPath: logs, readonly: true }),
      mount({ containerPath: '/shared', hostPath: data, propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL }),
    ]);
    const cri = mounts.filter((m) => m.source?.startsWith(host.dir));
    assert.deepEqual(
      cri.map((m) => [m.destination, m.options]),
      [
        ['/shared', ['rbind', 'rshared', 'rw']],
        ['/var/lib/app', ['rbind', 'rprivate', 'ro']],
        ['/var/lib/app/cache', ['rbind', 'rslave', 'rw']],
      ],
    );
    assert.equal(rootfsPropagation, 'rshared');
    // Every mount comes after any mount that is its parent.
    mounts.forEach((m, i) => {
      for (const later of mounts.slice(i + 1)) assert.ok(!m.destination.startsWith(`${later.destination}/`), `${m.destination} before ${later.destination}`);
    });
  });

  it('HOST_TO_CONTAINER alone makes the root rslave', async () => {
    const r = await build([mount({ containerPath: '/x', hostPath: host.dir, propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER })]);
    assert.equal(r.rootfsPropagation, 'rslave');
  });

  it('a CRI mount replaces the default at the same path; /dev and /sys take their subtrees', async () => {
    const { mounts } = await build([
      mount({ containerPath: '/etc/hosts', hostPath: join(host.dir, 'data/file') }),
      mount({ containerPath: '/dev/', hostPath: host.dir }),
    ]);
    const dests = mounts.map((m) => m.destination);
    assert.equal(dests.filter((d) => d === '/etc/hosts').length, 1);
    assert.equal(mounts.find((m) => m.destination === '/etc/hosts')?.source, join(host.dir, 'data/file'));
    assert.ok(!dests.some((d) => d.startsWith('/dev/')), `no default under /dev: ${dests.join(' ')}`);
    assert.equal(mounts.find((m) => m.destination === '/dev')?.type, 'bind');
    const sys = await build([mount({ containerPath: '/sys', hostPath: host.dir })]);
    assert.ok(!sys.mounts.some((m) => m.destination === '/sys/fs/cgroup'));
  });

  it('recursive read-only: "rro" when readonly and private, errors otherwise', async () => {
    const { mounts } = await build([mount({ containerPath: '/ro', hostPath: host.dir, readonly: true, recursiveReadOnly: true })]);
    assert.deepEqual(mounts.find((m) => m.destination === '/ro')?.options, ['rbind', 'rprivate', 'rro']);
    await assert.rejects(
      build([mount({ containerPath: '/ro', hostPath: host.dir, recursiveReadOnly: true })]),
      rpcError(status.INVALID_ARGUMENT, /^config\.mounts\[0\]\.recursive_read_only: needs readonly/),
    );
    await assert.rejects(
      build([
        mount({ containerPath: '/a', hostPath: host.dir }),
        mount({ containerPath: '/ro', hostPath: host.dir, readonly: true, recursiveReadOnly: true, propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }),
      ]),
      rpcError(status.INVALID_ARGUMENT, /^config\.mounts\[1\]\.recursive_read_only: needs PROPAGATION_PRIVATE/),
    );
  });

  it('bad paths are INVALID_ARGUMENT naming config.mounts[i]', async () => {
    const bad = async (m: Mount, re: RegExp): Promise<void> => {
      await assert.rejects(build([mount({ containerPath: '/ok', hostPath: host.dir }), m]), rpcError(status.INVALID_ARGUMENT, re));
    };
    await bad(mount({ containerPath: 'relative', hostPath: host.dir }), /^config\.mounts\[1\]\.container_path: "relative" must be an absolute path/);
    await bad(mount({ containerPath: '/a/../../etc', hostPath: host.dir }), /^config\.mounts\[1\]\.container_path: .*"\.\."/);
    await bad(mount({ containerPath: '', hostPath: host.dir }), /^config\.mounts\[1\]\.container_path: must not be empty/);
    await bad(mount({ containerPath: '/b', hostPath: 'rel/dir' }), /^config\.mounts\[1\]\.host_path: .*absolute/);
    await bad(mount({ containerPath: '/ok/', hostPath: host.dir }), /^config\.mounts\[1\]\.container_path: "\/ok" is also the target of config\.mounts\[0\]/);
  });

  it('image volumes and id-mapped mounts are UNIMPLEMENTED', async () => {
    await assert.rejects(
      build([
        mount({
          containerPath: '/img',
          image: { image: 'sha256:1', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
        }),
      ]),
      rpcError(status.UNIMPLEMENTED, /^config\.mounts\[0\]\.image: image volumes are not supported/),
    );
    await assert.rejects(
      build([mount({ containerPath: '/m', hostPath: host.dir, uidMappings: [{ hostId: 1000, containerId: 0, length: 1 }] })]),
      rpcError(status.UNIMPLEMENTED, /user namespaces/),
    );
  });

  it('a missing host path is created as a directory (only when every mount is valid)', async () => {
    const missing = join(host.dir, 'new/deep/dir');
    await assert.rejects(
      buildMounts({
        mounts: [mount({ containerPath: '/new', hostPath: missing }), mount({ containerPath: 'bad', hostPath: host.dir })],
        files,
        privileged: false,
        readonlyRootfs: false,
      }),
      rpcError(status.INVALID_ARGUMENT, /container_path/),
    );
    await assert.rejects(stat(missing), { code: 'ENOENT' });
    await buildMounts({ mounts: [mount({ containerPath: '/new', hostPath: missing })], files, privileged: false, readonlyRootfs: false });
    assert.ok((await stat(missing)).isDirectory());
  });

  it('selinux_relabel is accepted and ignored', async () => {
    const { mounts } = await build([mount({ containerPath: '/x', hostPath: host.dir, selinuxRelabel: true })]);
    assert.deepEqual(mounts.find((m) => m.destination === '/x')?.options, ['rbind', 'rprivate', 'rw']);
  });

  it('reach the spec through buildContainerSpec', async () => {
    const { spec } = await buildContainerSpec(
      baseInput(host.dir, {
        config: containerConfig({ command: ['/x'], mounts: [mount({ containerPath: '/data', hostPath: join(host.dir, 'data'), readonly: true })] }),
      }),
    );
    assert.deepEqual(spec.mounts.find((m) => m.destination === '/data'), {
      destination: '/data',
      type: 'bind',
      source: join(host.dir, 'data'),
      options: ['rbind', 'rprivate', 'ro'],
    });
  });
});
