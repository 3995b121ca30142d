import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { parsePasswd, resolveUser } from '../../src/oci/spec/user.js';
import { SupplementalGroupsPolicy, type LinuxContainerSecurityContext } from '../../src/proto/cri.js';
import { baseInput, containerConfig, fakeRootfs, readFileInRoot, rpcError, securityContext } from './helpers.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'broken line',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'web:x:33:33:www:/var/www:/bin/sh',
  '',
].join('\n');

const group = [
  'root:x:0:',
  'daemon:x:1:',
  'www-data:x:33:app',
  'app:x:1000:',
  'video:x:44:app,web',
  'audio:x:29: web , app ',
  '',
].join('\n');

describe('user resolution', () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  let bare: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    root = await fakeRootfs({ '/etc/passwd': passwd, '/etc/group': group });
    bare = await fakeRootfs({});
  });
  after(async () => {
    await root.cleanup();
    await bare.cleanup();
  });

  const resolve = (imageUser: string, sc: Partial<LinuxContainerSecurityContext> = {}, dir = root.dir): ReturnType<typeof resolveUser> =>
    resolveUser({ securityContext: securityContext(sc), imageUser, rootfs: dir, readFileInRoot });

  it('parses passwd, skipping comments and malformed lines', () => {
    assert.deepEqual(
      parsePasswd(passwd).map((u) => u.name),
      ['root', 'daemon', 'app', 'web'],
    );
  });

  it('no user anywhere is root with root\'s groups', async () => {
    assert.deepEqual(await resolve(''), { uid: 0, gid: 0, additionalGids: [0], home: '/root', name: 'root' });
  });

  it('image User by name: uid, primary gid, home and /etc/group memberships', async () => {
    assert.deepEqual(await resolve('app'), { uid: 1000, gid: 1000, additionalGids: [1000, 33, 44, 29], home: '/home/app', name: 'app' });
  });

  it('image User numeric: known uid takes passwd\'s gid, unknown uid gets gid 0', async () => {
    assert.deepEqual(await resolve('33'), { uid: 33, gid: 33, additionalGids: [33, 44, 29], home: '/var/www', name: 'web' });
    assert.deepEqual(await resolve('4242'), { uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  });

  it('the primary gid leads the supplementary groups, though /etc/group lists no members for it', async () => {
    // app's own group (1000) names no members; containerd and CRI-O still add it.
    assert.deepEqual((await resolve('', { runAsUsername: 'app' })).additionalGids, [1000, 33, 44, 29]);
    // run_as_group is the primary gid then, and the passwd gid is not added.
    assert.deepEqual((await resolve('', { runAsUsername: 'app', runAsGroup: { value: 3000 } })).additionalGids, [3000, 33, 44, 29]);
    // Listed once when it is also a membership or a supplemental group.
    assert.deepEqual((await resolve('app:video', { supplementalGroups: [44] })).additionalGids, [44, 33, 29]);
  });

  it('image User name:group and uid:gid', async () => {
    const named = await resolve('app:video');
    assert.equal(named.uid, 1000);
    assert.equal(named.gid, 44);
    const numeric = await resolve('5000:6000');
    assert.deepEqual([numeric.uid, numeric.gid], [5000, 6000]);
    const mixed = await resolve('daemon:2000');
    assert.deepEqual([mixed.uid, mixed.gid], [1, 2000]);
  });

  it('unknown names are INVALID_ARGUMENT naming them', async () => {
    await assert.rejects(resolve('nobody'), rpcError(status.INVALID_ARGUMENT, /^image config User: user "nobody" not found/));
    await assert.rejects(resolve('app:nogroup'), rpcError(status.INVALID_ARGUMENT, /^image config User: group "nogroup" not found/));
    await assert.rejects(
      resolve('', { runAsUsername: 'ghost' }),
      rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.run_as_username: user "ghost" not found/),
    );
    await assert.rejects(resolve('app', {}, bare.dir), rpcError(status.INVALID_ARGUMENT, /the image has no \/etc\/passwd/));
  });

  it('numeric users work in an image without /etc/passwd', async () => {
    assert.deepEqual(await resolve('65534:65534', {}, bare.dir), { uid: 65534, gid: 65534, additionalGids: [65534], home: '/' });
  });

  it('run_as_user and run_as_username replace the image User', async () => {
    const byId = await resolve('app', { runAsUser: { value: 33 } });
    assert.deepEqual([byId.uid, byId.gid, byId.home], [33, 33, '/var/www']);
    const byName = await resolve('root', { runAsUsername: 'app' });
    assert.deepEqual([byName.uid, byName.gid], [1000, 1000]);
  });

  it('run_as_group replaces the gid but needs a user', async () => {
    const u = await resolve('', { runAsUser: { value: 1000 }, runAsGroup: { value: 3000 } });
    assert.deepEqual([u.uid, u.gid], [1000, 3000]);
    await assert.rejects(
      resolve('app', { runAsGroup: { value: 3000 } }),
      rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.run_as_group: is set without run_as_user/),
    );
    await assert.rejects(
      resolve('', { runAsUser: { value: 1 }, runAsUsername: 'app' }),
      rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.run_as_username: must not be set together/),
    );
  });

  it('supplemental_groups are added and deduplicated; Strict leaves out /etc/group', async () => {
    const merged = await resolve('app', { supplementalGroups: [44, 5000, 5000] });
    assert.deepEqual(merged.additionalGids, [1000, 33, 44, 29, 5000]);
    const strict = await resolve('app', { supplementalGroups: [5000], supplementalGroupsPolicy: SupplementalGroupsPolicy.Strict });
    assert.deepEqual(strict.additionalGids, [1000, 5000]);
  });

  it('ids out of range are INVALID_ARGUMENT with the field', async () => {
    await assert.rejects(resolve('', { runAsUser: { value: -1 } }), rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.run_as_user: -1/));
    await assert.rejects(
      resolve('', { supplementalGroups: [1, -5] }),
      rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.supplemental_groups\[1\]: /),
    );
  });

  it('an oversized /etc/passwd is refused, not read whole', async () => {
    const big = await fakeRootfs({ '/etc/passwd': 'x'.repeat(1024 * 1024 + 10) });
    try {
      await assert.rejects(resolve('app', {}, big.dir), rpcError(status.FAILED_PRECONDITION, /^image \/etc\/passwd: is larger than/));
    } finally {
      await big.cleanup();
    }
  });

  it('lands in the spec and the returned user', async () => {
    const result = await buildContainerSpec(
      baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { runAsUsername: 'app', supplementalGroups: [7] }) }),
    );
    assert.deepEqual(result.spec.process.user, { uid: 1000, gid: 1000, additionalGids: [1000, 33, 44, 29, 7] });
    assert.deepEqual(result.user, { uid: 1000, gid: 1000, additionalGids: [1000, 33, 44, 29, 7] });
    assert.ok(result.spec.process.env.includes('HOME=/home/app'));
  });
});
