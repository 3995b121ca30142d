import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { buildSeccomp, seccompChoice } from '../../src/oci/spec/seccomp.js';
import { defaultSeccompProfile } from '../../src/oci/spec/seccomp_default.js';
import { compileProfile, validateProfile } from '../../src/oci/spec/seccomp_profile.js';
import type { OciSeccomp } from '../../src/oci/spec/types.js';
import { SecurityProfile_ProfileType, type SecurityProfile } from '../../src/proto/cri.js';
import { baseInput, containerConfig, criDefaultCaps, fakeRootfs, rpcError, sandboxConfig } from './helpers.js';

const field = 'config.linux.security_context';
const runtimeDefault: SecurityProfile = { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' };
const unconfined: SecurityProfile = { profileType: SecurityProfile_ProfileType.Unconfined, localhostRef: '' };
const localhost = (ref: string): SecurityProfile => ({ profileType: SecurityProfile_ProfileType.Localhost, localhostRef: ref });
const caps = criDefaultCaps.map((c) => `CAP_${c}`);

/** Every rule that names `name`. */
const rulesFor = (s: OciSeccomp, name: string): OciSeccomp['syscalls'] => (s.syscalls ?? []).filter((r) => r.names.includes(name));

const compile = (capabilities: string[], arch = 'amd64'): OciSeccomp => compileProfile(defaultSeccompProfile, { capabilities, arch, kernel: '6.1.0' });

describe('seccomp', () => {
  describe('the RuntimeDefault profile', () => {
    const plain = compile(caps);
    const admin = compile([...caps, 'CAP_SYS_ADMIN']);

    it('denies with EPERM by default, for the native architecture and its compat modes', () => {
      assert.equal(plain.defaultAction, 'SCMP_ACT_ERRNO');
      assert.equal(plain.defaultErrnoRet, 1);
      assert.deepEqual(plain.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
      assert.deepEqual(compile(caps, 'arm64').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    });

    it('allows what ordinary programs need', () => {
      for (const name of ['read', 'write', 'openat', 'execve', 'mmap', 'futex', 'exit_group', 'socketpair', 'rt_sigaction', 'setuid', 'capset', 'prctl', 'clock_gettime', 'epoll_wait', 'wait4']) {
        assert.ok(rulesFor(plain, name)?.some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args), `${name} allowed`);
      }
    });

    it('leaves dangerous calls to the default EPERM without the capability', () => {
      for (const name of ['mount', 'umount2', 'pivot_root', 'setns', 'bpf', 'perf_event_open', 'keyctl', 'add_key', 'request_key', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'open_by_handle_at', 'reboot', 'swapon', 'swapoff', 'acct', 'syslog', 'settimeofday', 'clock_settime', 'quotactl', 'userfaultfd', 'chroot', 'iopl', 'io_uring_setup']) {
        assert.deepEqual(rulesFor(plain, name), [], `${name} not allowed`);
      }
    });

    it('gates each of them on the capability the kernel checks', () => {
      const withCap = (cap: string, name: string): void => {
        assert.ok(rulesFor(compile([...caps, cap]), name)?.some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args), `${name} with ${cap}`);
      };
      for (const name of ['mount', 'umount2', 'pivot_root', 'setns', 'unshare', 'clone', 'clone3', 'bpf', 'keyctl', 'quotactl', 'swapon']) withCap('CAP_SYS_ADMIN', name);
      withCap('CAP_SYS_MODULE', 'finit_module');
      withCap('CAP_SYS_BOOT', 'reboot');
      withCap('CAP_SYS_BOOT', 'kexec_load');
      withCap('CAP_SYS_TIME', 'clock_settime');
      withCap('CAP_SYS_PACCT', 'acct');
      withCap('CAP_DAC_READ_SEARCH', 'open_by_handle_at');
      withCap('CAP_BPF', 'bpf');
      withCap('CAP_PERFMON', 'perf_event_open');
      withCap('CAP_SYS_CHROOT', 'chroot');
    });

    it('clone and unshare only without CLONE_NEW* flags; clone3 → ENOSYS unless CAP_SYS_ADMIN', () => {
      assert.deepEqual(rulesFor(plain, 'clone'), [
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      ]);
      assert.deepEqual(rulesFor(plain, 'unshare'), [
        { names: ['unshare'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020080, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      ]);
      assert.deepEqual(rulesFor(plain, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
      // With CAP_SYS_ADMIN the restricted forms give way to plain allows.
      for (const name of ['clone', 'clone3', 'unshare']) {
        assert.deepEqual(rulesFor(admin, name)?.map((r) => [r.action, r.args]), [['SCMP_ACT_ALLOW', undefined]], name);
      }
    });

    it('personality only for harmless personas; sockets but not vsock', () => {
      const values = rulesFor(plain, 'personality')?.map((r) => r.args?.[0]?.value);
      assert.deepEqual(values, [0, 8, 0x20000, 0x20008, 0xffffffff]);
      assert.deepEqual(rulesFor(plain, 'socket')?.[0]?.args, [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }]);
    });

    it('architecture-specific calls follow the architecture', () => {
      assert.ok((rulesFor(plain, 'arch_prctl')?.length ?? 0) > 0);
      assert.equal(rulesFor(compile(caps, 'arm64'), 'arch_prctl')?.length, 0);
      assert.ok((rulesFor(compile(caps, 'arm64'), 'set_tls')?.length ?? 0) > 0);
    });

    it('passes its own validation', () => {
      assert.ok('profile' in validateProfile(JSON.parse(JSON.stringify(defaultSeccompProfile))));
    });
  });

  describe('profile choice', () => {
    it('message form, deprecated strings, and none at all', () => {
      assert.deepEqual(seccompChoice(runtimeDefault, '', field), { kind: 'runtime-default' });
      assert.deepEqual(seccompChoice(unconfined, 'runtime/default', field), { kind: 'unconfined' });
      assert.deepEqual(seccompChoice(null, '', field), { kind: 'unconfined' });
      assert.deepEqual(seccompChoice(null, 'runtime/default', field), { kind: 'runtime-default' });
      assert.deepEqual(seccompChoice(null, 'docker/default', field), { kind: 'runtime-default' });
      assert.deepEqual(seccompChoice(null, 'unconfined', field), { kind: 'unconfined' });
      assert.deepEqual(seccompChoice(null, 'localhost//etc/p.json', field), { kind: 'localhost', path: '/etc/p.json', field: `${field}.seccomp_profile_path` });
      assert.throws(() => seccompChoice(null, 'localhost/rel.json', field), rpcError(status.INVALID_ARGUMENT, /seccomp_profile_path/));
      assert.throws(() => seccompChoice(null, 'bogus', field), rpcError(status.INVALID_ARGUMENT, /seccomp_profile_path: "bogus"/));
      assert.throws(() => seccompChoice(localhost('rel.json'), '', field), rpcError(status.INVALID_ARGUMENT, /seccomp\.localhost_ref: "rel\.json" must be an absolute path/));
    });

    it('privileged and Unconfined containers get no filter', async () => {
      assert.equal(await buildSeccomp({ profile: runtimeDefault, legacyPath: '', privileged: true, capabilities: caps, field }), undefined);
      assert.equal(await buildSeccomp({ profile: unconfined, legacyPath: '', privileged: false, capabilities: caps, field }), undefined);
    });
  });

  describe('Localhost profiles', () => {
    let dir: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      dir = await fakeRootfs({});
      await writeFile(
        join(dir.dir, 'good.json'),
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ERRNO',
          archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
          syscalls: [
            { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
            { name: 'mount', action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
            { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, excludes: { caps: ['CAP_KILL'] } },
            { names: ['modify_ldt'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
            { names: ['fancy'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '99.0' } },
          ],
        }),
      );
      await writeFile(join(dir.dir, 'oci.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_LOG', architectures: ['SCMP_ARCH_X86_64'], syscalls: [] }));
      await writeFile(join(dir.dir, 'broken.json'), '{ "defaultAction": ');
      await writeFile(join(dir.dir, 'wrong.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'ALLOW' }] }));
    });
    after(() => dir.cleanup());

    const load = (name: string, capabilities = caps): Promise<OciSeccomp | undefined> =>
      buildSeccomp({ profile: localhost(join(dir.dir, name)), legacyPath: '', privileged: false, capabilities, field, arch: 'amd64', kernel: '6.1.0' });

    it('reads the file and resolves includes/excludes for the container', async () => {
      assert.deepEqual(await load('good.json'), {
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
      });
      const admin = await load('good.json', ['CAP_SYS_ADMIN']);
      assert.deepEqual(admin?.syscalls?.map((s) => s.names), [['read', 'write'], ['mount'], ['kill']]);
      assert.equal(admin?.syscalls?.[2]?.errnoRet, 13);
    });

    it('plain OCI-form profiles pass through', async () => {
      assert.deepEqual(await load('oci.json'), { defaultAction: 'SCMP_ACT_LOG', architectures: ['SCMP_ARCH_X86_64'], syscalls: [] });
    });

    it('missing, unparsable or invalid files are FAILED_PRECONDITION naming localhost_ref', async () => {
      await assert.rejects(load('absent.json'), rpcError(status.FAILED_PRECONDITION, /^config\.linux\.security_context\.seccomp\.localhost_ref: cannot read seccomp profile ".*absent\.json": does not exist/));
      await assert.rejects(load('broken.json'), rpcError(status.FAILED_PRECONDITION, /localhost_ref: seccomp profile .* is not valid JSON/));
      await assert.rejects(load('wrong.json'), rpcError(status.FAILED_PRECONDITION, /is invalid: syscalls\[0\]\.action: must be one of/));
    });

    it('a deprecated localhost/ path works too', async () => {
      const s = await buildSeccomp({ profile: null, legacyPath: `localhost/${join(dir.dir, 'oci.json')}`, privileged: false, capabilities: caps, field });
      assert.equal(s?.defaultAction, 'SCMP_ACT_LOG');
    });

    it('a directory instead of a file is reported, not crashed on', async () => {
      await mkdir(join(dir.dir, 'adir.json'));
      await assert.rejects(load('adir.json'), rpcError(status.FAILED_PRECONDITION, /cannot read seccomp profile/));
    });

    it('a FIFO instead of a file is refused at once, not waited on', { timeout: 5000 }, async () => {
      await promisify(execFile)('mkfifo', [join(dir.dir, 'fifo.json')]);
      await assert.rejects(load('fifo.json'), rpcError(status.FAILED_PRECONDITION, /cannot read seccomp profile .*not a regular file/));
    });
  });

  describe('in the container spec', () => {
    let root: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      root = await fakeRootfs({});
    });
    after(() => root.cleanup());

    it('RuntimeDefault is compiled for the container\'s capabilities', async () => {
      const plain = await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { seccomp: runtimeDefault }) }));
      assert.equal(plain.spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
      assert.deepEqual(rulesFor(plain.spec.linux.seccomp!, 'mount'), []);
      const admin = await buildContainerSpec(
        baseInput(root.dir, {
          config: containerConfig({ command: ['/x'] }, { seccomp: runtimeDefault, capabilities: { addCapabilities: ['SYS_ADMIN'], dropCapabilities: [], addAmbientCapabilities: [] } }),
        }),
      );
      assert.ok((rulesFor(admin.spec.linux.seccomp!, 'mount')?.length ?? 0) > 0);
      const priv = await buildContainerSpec(
        baseInput(root.dir, { config: containerConfig({ command: ['/x'] }, { seccomp: runtimeDefault, privileged: true }), sandboxConfig: sandboxConfig({}, { privileged: true }) }),
      );
      assert.equal(priv.spec.linux.seccomp, undefined);
    });
  });
});
