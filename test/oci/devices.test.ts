import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { buildDevices, listHostDevices, splitDev, statHostDevice, type HostDevice } from '../../src/oci/spec/devices.js';
import type { Device } from '../../src/proto/cri.js';
import { baseInput, containerConfig, fakeRootfs, rpcError, sandboxConfig } from './helpers.js';

const dev = (containerPath: string, hostPath: string, permissions = 'rwm'): Device => ({ containerPath, hostPath, permissions });

describe('devices', () => {
  it('statHostDevice reads real device numbers and kinds', async () => {
    const devNull = await statHostDevice('/dev/null');
    assert.deepEqual([devNull.type, devNull.major, devNull.minor, devNull.mode], ['c', 1, 3, 0o666]);
    assert.equal((await statHostDevice('/dev/zero')).minor, 5);
    await assert.rejects(statHostDevice('/dev'), { code: 'EISDIR' });
    await assert.rejects(statHostDevice('/etc/hostname'), { code: 'ENODEV' });
    await assert.rejects(statHostDevice('/dev/definitely-not-here'), { code: 'ENOENT' });
  });

  it('splitDev decodes large majors and minors', () => {
    assert.deepEqual(splitDev(0x0103n), { major: 1, minor: 3 });
    // major 259, minor 300 in the glibc layout.
    const rdev = ((259n & 0xfffn) << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
    assert.deepEqual(splitDev(rdev), { major: 259, minor: 300 });
  });

  it('listHostDevices finds /dev/null and skips /dev/pts and the console', async () => {
    const all = await listHostDevices();
    assert.ok(all.some((d) => d.path === '/dev/null' && d.major === 1 && d.minor === 3));
    assert.ok(!all.some((d) => d.path.startsWith('/dev/pts/') || d.path === '/dev/console'));
  });

  it('a CRI device: node, permissions, and an allow rule after the default list', async () => {
    const { devices, rules } = await buildDevices({
      devices: [dev('/dev/mynull', '/dev/null', 'rw')],
      privileged: false,
      privilegedWithoutHostDevices: false,
      statDevice: statHostDevice,
      hostDevices: listHostDevices,
    });
    assert.equal(devices.length, 1);
    assert.deepEqual({ ...devices[0], uid: 0, gid: 0 }, { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 });
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    assert.ok(rules.some((r) => r.allow && r.type === 'c' && r.major === 136 && r.minor === undefined), 'pts');
    assert.ok(rules.some((r) => r.allow && r.type === 'b' && r.major === undefined && r.access === 'm'), 'mknod b');
    assert.deepEqual(rules.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  });

  it('a directory host path stands for every device under it', async () => {
    const below: HostDevice[] = [
      { path: '/dev/dri/card0', type: 'c', major: 226, minor: 0, mode: 0o660, uid: 0, gid: 44 },
      { path: '/dev/dri/renderD128', type: 'c', major: 226, minor: 128, mode: 0o666, uid: 0, gid: 44 },
    ];
    const { devices, rules } = await buildDevices({
      devices: [dev('/dev/gpu', '/dev/dri', 'rw')],
      privileged: false,
      privilegedWithoutHostDevices: false,
      statDevice: async () => {
        throw Object.assign(new Error('dir'), { code: 'EISDIR' });
      },
      hostDevices: async (dir) => (dir === '/dev/dri' ? below : []),
    });
    assert.deepEqual(devices.map((d) => [d.path, d.minor, d.fileMode, d.gid]), [['/dev/gpu/card0', 0, 0o660, 44], ['/dev/gpu/renderD128', 128, 0o666, 44]]);
    assert.equal(rules.filter((r) => r.major === 226).length, 2);
  });

  it('bad devices are errors naming config.devices[i]', async () => {
    const attempt = (d: Device): ReturnType<typeof buildDevices> =>
      buildDevices({ devices: [dev('/dev/null', '/dev/null'), d], privileged: false, privilegedWithoutHostDevices: false, statDevice: statHostDevice, hostDevices: listHostDevices });
    await assert.rejects(attempt(dev('/dev/x', '/dev/null', 'rwx')), rpcError(status.INVALID_ARGUMENT, /^config\.devices\[1\]\.permissions: "rwx"/));
    await assert.rejects(attempt(dev('/dev/x', '/dev/null', 'rr')), rpcError(status.INVALID_ARGUMENT, /^config\.devices\[1\]\.permissions/));
    await assert.rejects(attempt(dev('dev/x', '/dev/null')), rpcError(status.INVALID_ARGUMENT, /^config\.devices\[1\]\.container_path/));
    await assert.rejects(attempt(dev('/dev/x', '/dev/nope')), rpcError(status.FAILED_PRECONDITION, /^config\.devices\[1\]\.host_path: "\/dev\/nope" does not exist/));
    await assert.rejects(attempt(dev('/dev/x', '/etc/hostname')), rpcError(status.INVALID_ARGUMENT, /^config\.devices\[1\]\.host_path: .*not a device node/));
  });

  it('privileged: every host device and an allow-all rule, unless the handler says otherwise', async () => {
    const host: HostDevice[] = [
      { path: '/dev/null', type: 'c', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/sda', type: 'b', major: 8, minor: 0, mode: 0o660, uid: 0, gid: 6 },
      { path: '/dev/stale', type: 'c', major: 0, minor: 0, mode: 0o600, uid: 0, gid: 0 },
    ];
    const priv = await buildDevices({ devices: [], privileged: true, privilegedWithoutHostDevices: false, statDevice: statHostDevice, hostDevices: async () => host });
    assert.deepEqual(priv.devices.map((d) => d.path), ['/dev/null', '/dev/sda']);
    assert.deepEqual(priv.rules, [{ allow: true, access: 'rwm' }]);
    const without = await buildDevices({ devices: [], privileged: true, privilegedWithoutHostDevices: true, statDevice: statHostDevice, hostDevices: async () => host });
    assert.deepEqual(without.devices, []);
    assert.deepEqual(without.rules[0], { allow: false, access: 'rwm' });
  });

  describe('in the container spec', () => {
    let root: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      root = await fakeRootfs({});
    });
    after(() => root.cleanup());

    it('devices and rules land in linux.devices and linux.resources.devices', async () => {
      const { spec } = await buildContainerSpec(
        baseInput(root.dir, { config: containerConfig({ command: ['/x'], devices: [dev('/dev/fuse0', '/dev/null', 'rwm')] }) }),
      );
      assert.deepEqual(spec.linux.devices?.map((d) => d.path), ['/dev/fuse0']);
      assert.deepEqual(spec.linux.resources?.devices?.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
    });

    it('privileged containers get the node\'s devices from hostDevices()', async () => {
      const { spec } = await buildContainerSpec(
        baseInput(root.dir, {
          config: containerConfig({ command: ['/x'] }, { privileged: true }),
          sandboxConfig: sandboxConfig({}, { privileged: true }),
          hostDevices: listHostDevices,
        }),
      );
      assert.ok(spec.linux.devices?.some((d) => d.path === '/dev/null'));
      assert.deepEqual(spec.linux.resources?.devices, [{ allow: true, access: 'rwm' }]);
      assert.deepEqual(spec.linux.maskedPaths, []);
      assert.deepEqual(spec.linux.readonlyPaths, []);
    });
  });
});
