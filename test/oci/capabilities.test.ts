import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildCapabilities, capabilitiesFromMask, capabilityName, knownCapabilities, nodeCapabilities } from '../../src/oci/spec/capabilities.js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import type { Capability } from '../../src/proto/cri.js';
import { baseInput, containerConfig, criDefaultCaps, fakeRootfs, rpcError, sandboxConfig } from './helpers.js';

const field = 'config.linux.security_context.capabilities';
const caps = (add: string[] = [], drop: string[] = [], ambient: string[] = []): Capability => ({
  addCapabilities: add,
  dropCapabilities: drop,
  addAmbientCapabilities: ambient,
});
const build = (c: Capability | null, privileged = false, all: string[] = [...knownCapabilities]): ReturnType<typeof buildCapabilities> =>
  buildCapabilities({ capabilities: c, privileged, defaults: criDefaultCaps, all, field });

const defaults = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE'];

describe('capabilities', () => {
  it('names: with or without CAP_, any case', () => {
    assert.equal(capabilityName('net_admin'), 'CAP_NET_ADMIN');
    assert.equal(capabilityName('Cap_Sys_Admin'), 'CAP_SYS_ADMIN');
    assert.equal(capabilityName('CAP_FOO'), undefined);
    assert.deepEqual(capabilitiesFromMask('0000000000000005'), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
  });

  it('defaults go to bounding, effective and permitted, in kernel order; nothing inheritable or ambient', () => {
    const c = build(null);
    assert.deepEqual(c.bounding, defaults);
    assert.deepEqual(c.effective, defaults);
    assert.deepEqual(c.permitted, defaults);
    assert.deepEqual(c.inheritable, []);
    assert.deepEqual(c.ambient, []);
  });

  it('add and drop adjust the defaults; drop wins over add', () => {
    const c = build(caps(['NET_ADMIN', 'cap_sys_time', 'CHOWN'], ['KILL', 'CAP_NET_ADMIN']));
    assert.deepEqual(c.bounding, ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_TIME']);
  });

  it('drop ALL then add: only what is added', () => {
    assert.deepEqual(build(caps(['NET_BIND_SERVICE'], ['ALL'])).effective, ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(build(caps([], ['all'])).effective, []);
  });

  it('add ALL then drop: everything but the drops', () => {
    const c = build(caps(['ALL'], ['SYS_ADMIN', 'MKNOD']));
    assert.equal(c.bounding.length, knownCapabilities.length - 2);
    assert.ok(!c.bounding.includes('CAP_SYS_ADMIN') && !c.bounding.includes('CAP_MKNOD'));
    assert.ok(c.bounding.includes('CAP_CHECKPOINT_RESTORE'));
  });

  it('ambient: added to every set including inheritable and ambient; drops remove them', () => {
    const c = build(caps([], [], ['NET_RAW']));
    assert.ok(c.bounding.includes('CAP_NET_RAW') && c.effective.includes('CAP_NET_RAW') && c.permitted.includes('CAP_NET_RAW'));
    assert.deepEqual(c.inheritable, ['CAP_NET_RAW']);
    assert.deepEqual(c.ambient, ['CAP_NET_RAW']);
    const dropped = build(caps([], ['NET_RAW'], ['NET_RAW']));
    assert.deepEqual(dropped.ambient, []);
    assert.ok(!dropped.bounding.includes('CAP_NET_RAW'));
  });

  it('privileged: every capability the node has', () => {
    const nodeSet = knownCapabilities.filter((c) => c !== 'CAP_SYS_RESOURCE');
    const c = build(caps([], ['ALL']), true, nodeSet);
    assert.deepEqual(c.bounding, nodeSet);
    assert.deepEqual(c.effective, nodeSet);
    assert.deepEqual(c.ambient, []);
  });

  it('unknown names are INVALID_ARGUMENT with the list and index', () => {
    assert.throws(() => build(caps(['CHOWN', 'NET_ADMIN', 'CAP_FOO'])), rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.capabilities\.add_capabilities\[2\]: unknown capability "CAP_FOO"/));
    assert.throws(() => build(caps([], ['bogus'])), rpcError(status.INVALID_ARGUMENT, /drop_capabilities\[0\]: unknown capability "bogus"/));
    assert.throws(() => build(caps([], [], ['ALL'])), rpcError(status.INVALID_ARGUMENT, /add_ambient_capabilities\[0\]/));
  });

  it('a capability the node cannot grant is FAILED_PRECONDITION when asked for, skipped among defaults', () => {
    const nodeSet = knownCapabilities.filter((c) => c !== 'CAP_SYS_RESOURCE' && c !== 'CAP_KILL');
    assert.throws(() => build(caps(['SYS_RESOURCE']), false, nodeSet), rpcError(status.FAILED_PRECONDITION, /add_capabilities\[0\]: CAP_SYS_RESOURCE is not available/));
    assert.ok(!build(null, false, nodeSet).bounding.includes('CAP_KILL'));
  });

  it('reads this daemon\'s bounding set', async () => {
    const own = await nodeCapabilities();
    assert.ok(own.length > 0 && own.every((c) => knownCapabilities.includes(c)));
  });

  describe('in the container spec', () => {
    let root: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      root = await fakeRootfs({});
    });
    after(() => root.cleanup());

    it('no_new_privs and readonly_rootfs reach process and root', async () => {
      const { spec } = await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { noNewPrivs: true, readonlyRootfs: true }) }));
      assert.equal(spec.process.noNewPrivileges, true);
      assert.deepEqual(spec.root, { path: root.dir, readonly: true });
      assert.deepEqual(spec.process.capabilities?.bounding, defaults);
    });

    it('a privileged container needs a privileged pod', async () => {
      await assert.rejects(
        buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { privileged: true }) })),
        rpcError(status.INVALID_ARGUMENT, /^config\.linux\.security_context\.privileged: /),
      );
      const { spec } = await buildContainerSpec(
        baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { privileged: true }), sandboxConfig: sandboxConfig({}, { privileged: true }) }),
      );
      assert.equal(spec.process.capabilities?.bounding.length, knownCapabilities.length);
    });
  });
});
