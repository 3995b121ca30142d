// Runs a generated spec under the real runc: proof that the runtime accepts
// what skiff writes (mounts, namespaces, cgroups, devices, seccomp, caps)
// and that the process sees what the spec promises. Needs root, runc and a
// static busybox (Debian: busybox-static); skipped otherwise.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, open, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { knownCapabilities, nodeCapabilities } from '../../src/oci/spec/capabilities.js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { listHostDevices, statHostDevice } from '../../src/oci/spec/devices.js';
import { buildSandboxSpec } from '../../src/oci/spec/sandbox.js';
import { detectCgroupHost } from '../../src/oci/spec/resources.js';
import { specProblems } from '../../src/oci/spec/validate.js';
import type { OciSpec } from '../../src/oci/spec/types.js';
import { SecurityProfile_ProfileType, type ContainerConfig, type PodSandboxConfig } from '../../src/proto/cri.js';
import { containerConfig, criDefaultCaps, env, fakeRootfs, isStaticElf, mount, readFileInRoot, resources, sandboxConfig } from './helpers.js';

const run = promisify(execFile);
const busybox = '/bin/busybox';
const cgroupParent = '/skiff-spec-smoke';

async function findRunc(): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin').split(':')) {
    try {
      await (await open(join(dir, 'runc'), 'r')).close();
      return join(dir, 'runc');
    } catch {
      // next
    }
  }
  return undefined;
}

const runcPath = await findRunc();
const skip =
  process.getuid?.() !== 0 ? 'needs root' : !runcPath ? 'runc not found' : !(await isStaticElf(busybox)) ? `${busybox} is not a static busybox` : false;

describe('generated spec under runc', { skip }, () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let ownOomScoreAdj = 0;
  const id = `smoke-${process.pid}`;
  before(async () => {
    ownOomScoreAdj = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
    work = await fakeRootfs({
      '/bundle/rootfs/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
      '/bundle/rootfs/etc/group': 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n',
      '/pod/hostname': 'smoke-pod\n',
      '/pod/hosts': '127.0.0.1 localhost smoke-pod\n',
      '/pod/resolv.conf': 'nameserver 127.0.0.1\n',
      '/volume/hello': 'from the host\n',
    });
    await mkdir(join(work.dir, 'bundle/rootfs/bin'), { recursive: true });
    await mkdir(join(work.dir, 'pod/shm'));
    await copyFile(busybox, join(work.dir, 'bundle/rootfs/bin/busybox'));
  });
  after(async () => {
    // runc removes the container's cgroups; the parent we named is ours to remove.
    for (const controller of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
      await rmdir(join('/sys/fs/cgroup', controller, cgroupParent)).catch(() => undefined);
    }
    await rmdir(join('/sys/fs/cgroup', cgroupParent)).catch(() => undefined);
    await work.cleanup();
  });

  let counter = 0;

  /** Builds the spec, runs it to completion under runc, returns its stdout lines. */
  async function runSpec(config: ContainerConfig, pod: PodSandboxConfig, user = ''): Promise<{ lines: string[]; spec: OciSpec }> {
    const name = `${id}-${counter++}`;
    const rootfs = join(work.dir, 'bundle/rootfs');
    const { spec } = await buildContainerSpec({
      id: name,
      config,
      sandboxConfig: pod,
      image: { config: { config: { Env: ['PATH=/bin'], User: user } } },
      rootfs,
      sandbox: {
        id: 'smokepod',
        namespaces: {},
        hostNetwork: false,
        hostIpc: false,
        hostPid: false,
        hostname: 'smoke-pod',
        files: {
          hostname: join(work.dir, 'pod/hostname'),
          hosts: join(work.dir, 'pod/hosts'),
          resolvConf: join(work.dir, 'pod/resolv.conf'),
          shm: join(work.dir, 'pod/shm'),
        },
        cgroupParent,
      },
      cgroupManager: 'cgroupfs',
      defaultCapabilities: criDefaultCaps,
      ownOomScoreAdj,
      readFileInRoot,
      statDevice: statHostDevice,
      hostDevices: listHostDevices,
      cgroupHost: await detectCgroupHost(),
      allCapabilities: await nodeCapabilities(),
      pidsLimit: 64,
    });
    assert.deepEqual(specProblems(spec), []);
    await writeFile(join(work.dir, 'bundle/config.json'), JSON.stringify(spec, null, 2));
    const state = join(work.dir, 'state');
    try {
      const { stdout } = await run(runcPath!, ['--root', state, 'run', '--bundle', join(work.dir, 'bundle'), name], { timeout: 60_000 });
      return { lines: stdout.split('\n').map((l) => l.trim()), spec };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`runc failed: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    } finally {
      await run(runcPath!, ['--root', state, 'delete', '--force', name]).catch(() => undefined);
    }
  }

  const expectLines = (lines: string[], expected: (string | RegExp)[]): void => {
    for (const line of expected) {
      assert.ok(lines.some((l) => (typeof line === 'string' ? l === line : line.test(l))), `${String(line)} in:\n${lines.join('\n')}`);
    }
  };
  const sh = (...commands: string[]): string[] => ['/bin/busybox', 'sh', '-c', commands.join('; ')];
  const runtimeDefault = { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' };

  it('a default container: caps, seccomp, mounts, devices, sysctls, oom as specified', async () => {
    const config = containerConfig(
      {
        command: sh(
          'id',
          'grep -E "^(CapBnd|CapEff|NoNewPrivs|Seccomp):" /proc/self/status',
          'echo hostname=$(hostname)',
          'echo oom=$(cat /proc/self/oom_score_adj)',
          'echo home=$HOME mode=$MODE',
          'cat /data/hello',
          'touch /data/x 2>/dev/null && echo data-writable || echo data-readonly',
          'echo 1 > /proc/sys/kernel/shmmax 2>/dev/null && echo procsys-writable || echo procsys-readonly',
          'unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-denied',
          'ls -l /dev/xnull',
          'echo shm=$(cat /proc/sys/kernel/shm_rmid_forced)',
          'cat /etc/hostname',
        ),
        envs: [env('MODE', 'smoke')],
        mounts: [mount({ containerPath: '/data', hostPath: join(work.dir, 'volume'), readonly: true })],
        devices: [{ containerPath: '/dev/xnull', hostPath: '/dev/null', permissions: 'rwm' }],
      },
      { seccomp: runtimeDefault, noNewPrivs: true, supplementalGroups: [3000] },
    );
    config.linux = { resources: resources({ cpuShares: 512, memoryLimitInBytes: 64 * 1024 * 1024, oomScoreAdj: 500 }), securityContext: config.linux?.securityContext ?? null };
    const { lines } = await runSpec(config, sandboxConfig({}, {}, { 'kernel.shm_rmid_forced': '1' }));
    expectLines(lines, [
      /^uid=0\(root\) gid=0\(root\) groups=.*3000/,
      // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
      /^CapBnd:\s+00000000000005fb$/,
      /^CapEff:\s+00000000000005fb$/,
      /^NoNewPrivs:\s+1$/,
      /^Seccomp:\s+2$/,
      'hostname=smoke-pod',
      `oom=${Math.max(500, ownOomScoreAdj)}`,
      'home=/root mode=smoke',
      'from the host',
      'data-readonly',
      'procsys-readonly',
      'unshare-denied',
      /^crw-rw-rw-\s+1 root\s+root\s+1,\s+3 .*\/dev\/xnull$/,
      'shm=1',
      'smoke-pod',
    ]);
  });

  it('a named non-root user with an ambient capability on a read-only root', async () => {
    const config = containerConfig(
      {
        command: sh(
          'id',
          'grep -E "^(CapEff|CapAmb):" /proc/self/status',
          'touch /newfile 2>/dev/null && echo root-writable || echo root-readonly',
          'cat /proc/kcore >/dev/null 2>&1 && echo kcore-readable || echo kcore-masked',
          'echo home=$HOME',
        ),
      },
      {
        seccomp: runtimeDefault,
        readonlyRootfs: true,
        capabilities: { addCapabilities: [], dropCapabilities: ['ALL'], addAmbientCapabilities: ['NET_BIND_SERVICE'] },
      },
    );
    const { lines } = await runSpec(config, sandboxConfig(), 'app');
    expectLines(lines, [
      /^uid=1000\(app\) gid=1000\(app\) groups=.*2000\(extra\)/,
      /^CapEff:\s+0000000000000400$/,
      /^CapAmb:\s+0000000000000400$/,
      'root-readonly',
      'kcore-masked',
      'home=/home/app',
    ]);
  });

  it('a privileged container: the node\'s capabilities and devices, writable sysfs, no seccomp', async () => {
    const config = containerConfig(
      {
        command: sh(
          'grep -E "^(CapEff|Seccomp):" /proc/self/status',
          'test -c /dev/zero && echo has-zero',
          'grep -E " /sys sysfs " /proc/mounts',
        ),
      },
      { privileged: true, seccomp: runtimeDefault },
    );
    const { lines, spec } = await runSpec(config, sandboxConfig({}, { privileged: true }));
    const capMask = (spec.process.capabilities?.effective ?? []).reduce((m, c) => m | (1n << BigInt(knownCapabilities.indexOf(c))), 0n);
    expectLines(lines, [new RegExp(`^CapEff:\\s+${capMask.toString(16).padStart(16, '0')}$`), /^Seccomp:\s+0$/, 'has-zero', /^sysfs \/sys sysfs rw,/]);
  });

  it('the infra (pause) spec runs too: nobody, no capabilities, read-only root, own PID namespace', async () => {
    const name = `${id}-infra`;
    const { spec } = await buildSandboxSpec({
      id: name,
      sandboxConfig: sandboxConfig({}, { seccomp: runtimeDefault }),
      rootfs: join(work.dir, 'bundle/rootfs'),
      command: sh('id -u', 'echo pid=$$', 'grep -E "^CapEff:" /proc/self/status', 'touch /x 2>/dev/null || echo root-readonly'),
      sandbox: {
        namespaces: {},
        hostNetwork: false,
        hostIpc: false,
        hostPid: false,
        hostname: 'smoke-pod',
        files: { hostname: '', hosts: '', resolvConf: '', shm: join(work.dir, 'pod/shm') },
        cgroupParent,
      },
      cgroupManager: 'cgroupfs',
      ownOomScoreAdj,
      cgroupHost: await detectCgroupHost(),
    });
    assert.deepEqual(specProblems(spec), []);
    await writeFile(join(work.dir, 'bundle/config.json'), JSON.stringify(spec, null, 2));
    const state = join(work.dir, 'state');
    try {
      const { stdout } = await run(runcPath!, ['--root', state, 'run', '--bundle', join(work.dir, 'bundle'), name], { timeout: 60_000 });
      expectLines(stdout.split('\n').map((l) => l.trim()), ['65535', 'pid=1', /^CapEff:\s+0{16}$/, 'root-readonly']);
    } finally {
      await run(runcPath!, ['--root', state, 'delete', '--force', name]).catch(() => undefined);
    }
  });
});
