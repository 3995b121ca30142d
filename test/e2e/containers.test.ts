// Containers through the CRI on each runtime handler, observed from what
// they print into their CRI log files and the exit codes they leave (not
// exec): log format, stop escalation, OOM, cgroup limits, read-only root,
// capabilities, seccomp and image users. Then a second runc handler that
// comes from a config drop-in, with its own binary name and state root.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { status } from '@grpc/grpc-js';
import { runcPath } from '../oci_runtime/fixtures.js';
import {
  containerCgroup,
  containerConfig,
  containerStatus,
  e2eProblem,
  imageUser,
  podConfig,
  readOutput,
  run,
  runPod,
  runToExit,
  startContainer,
  startE2e,
  State,
  waitState,
  type E2e,
  type Pod,
} from './fixtures.js';

const skip = await e2eProblem();
const MiB = 1024 * 1024;

/** Kernel capability numbers the checks below look at. */
const CAP = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8, NET_BIND_SERVICE: 10, SYS_ADMIN: 21 };
const defaultCapMask = [CAP.CHOWN, CAP.DAC_OVERRIDE, CAP.FOWNER, CAP.FSETID, CAP.KILL, CAP.SETGID, CAP.SETUID, CAP.SETPCAP, CAP.NET_BIND_SERVICE].reduce((m, c) => m | (1n << BigInt(c)), 0n);
const capEff = (lines: string[]): bigint => {
  const hex = lines.map((l) => /^CapEff:\s+([0-9a-f]+)$/.exec(l)?.[1]).find((h) => h !== undefined);
  assert.ok(hex, `CapEff in ${JSON.stringify(lines)}`);
  return BigInt(`0x${hex}`);
};

describe('e2e: containers through the CRI', { skip, timeout: 150_000 }, () => {
  let e2e: E2e;
  let scratch: string;
  const myrunc = { name: 'myrunc', binary: '', root: '' };
  const missingHandler = 'notinstalled';

  before(async () => {
    // A second runc handler, from a drop-in: the binary under another name, its own state root.
    scratch = await mkdtemp(join(tmpdir(), 'skiff-e2e-handler-'));
    myrunc.binary = join(scratch, 'bin', 'my-oci-runtime');
    myrunc.root = join(scratch, 'myrunc-state');
    await mkdir(join(scratch, 'bin'));
    await symlink(runcPath, myrunc.binary);
    await mkdir(join(scratch, 'skiff.d'));
    await writeFile(join(scratch, 'skiff.d', '50-myrunc.toml'), `[runtimes.${myrunc.name}]\nruntime_path = "${myrunc.binary}"\nruntime_root = "${myrunc.root}"\n`);
    // And one whose binary is missing.
    await writeFile(join(scratch, 'skiff.d', '60-broken.toml'), `[runtimes.${missingHandler}]\nruntime_path = "${join(scratch, 'bin', 'not-installed')}"\n`);
    e2e = await startE2e({ slot: 2, extraArgs: ['--config-dir', join(scratch, 'skiff.d')] });
  });
  after(async () => {
    await e2e?.cleanup();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  for (const handler of ['runc', 'crun']) {
    describe(`on the ${handler} handler`, { concurrency: true }, () => {
      let pod: Pod;
      /** Why this handler cannot run containers here, in its own words. */
      let unusable: string | undefined;

      before(async () => {
        pod = await runPod(e2e, podConfig(e2e, `ctr-${handler}`), handler);
        try {
          await runToExit(e2e, pod, containerConfig(e2e, 'probe', ['true']));
        } catch (err) {
          if (handler === 'runc') throw err;
          unusable = (err as { details?: string }).details ?? String(err);
        }
      });
      const usable = (t: TestContext): boolean => {
        if (unusable) t.skip(`${handler} cannot run containers on this host: ${unusable}`);
        return !unusable;
      };
      const ctr = (name: string, command: string, extra: Record<string, unknown> = {}) => containerConfig(e2e, name, ['sh', '-c', command], extra);
      const security = (sc: Record<string, unknown>) => ({ linux: { securityContext: sc } });

      it('stdout and stderr reach the CRI log in CRI format, unfinished lines tagged P; the exit code is kept', async (t) => {
        if (!usable(t)) return;
        const out = await runToExit(e2e, pod, ctr('logger', 'echo out; echo err >&2; printf part; sleep 0.3; echo ial; exit 3'));
        assert.equal(out.status.exitCode, 3);
        assert.equal(out.status.reason, 'Error');
        assert.ok(out.status.finishedAt >= out.status.startedAt && out.status.startedAt > 0);
        const ts = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+(Z|[+-]\\d\\d:\\d\\d)';
        // The two streams are separate pipes: their relative order is not fixed, each one's is.
        const lines = out.raw.split('\n').filter(Boolean);
        for (const line of lines) assert.match(line, new RegExp(`^${ts} (stdout|stderr) [FP] `));
        const tagged = (stream: string) => lines.filter((l) => l.split(' ')[1] === stream).map((l) => l.split(' ').slice(2).join(' '));
        assert.deepEqual(tagged('stdout'), ['F out', 'P part', 'F ial']);
        assert.deepEqual(tagged('stderr'), ['F err']);
        assert.deepEqual(out.stdout, ['out', 'partial']);
        assert.deepEqual(out.stderr, ['err']);
      });

      it('StopContainer sends TERM first and SIGKILLs a process that ignores it once the timeout passes', async (t) => {
        if (!usable(t)) return;
        const id = await startContainer(e2e, pod, ctr('stubborn', "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.2; done"));
        const s = await waitState(e2e, id, State.running);
        for (let i = 0; !(await readFile(s.logPath, 'utf8')).includes('ready') && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
        const started = Date.now();
        await e2e.daemon.client.runtime.StopContainer!({ containerId: id, timeout: 2 });
        const elapsed = Date.now() - started;
        const done = await containerStatus(e2e, id);
        assert.equal(done.state, State.exited);
        assert.equal(done.exitCode, 137);
        assert.ok(elapsed >= 1900 && elapsed < 10_000, `stopped after ${elapsed} ms`);
        assert.ok((await readOutput(done.logPath)).stdout.includes('got TERM'), 'TERM came first');
      });

      it('a container over its memory limit is OOMKilled', async (t) => {
        if (!usable(t)) return;
        const out = await runToExit(e2e, pod, ctr('hog', 'x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done', { linux: { resources: { memoryLimitInBytes: 32 * MiB } } }), 60_000);
        assert.equal(out.status.exitCode, 137);
        assert.equal(out.status.reason, 'OOMKilled');
      });

      it('cpu and memory limits are in the container\'s cgroup files', async (t) => {
        if (!usable(t)) return;
        const resources = { cpuPeriod: 100_000, cpuQuota: 50_000, cpuShares: 512, memoryLimitInBytes: 48 * MiB };
        const id = await startContainer(e2e, pod, ctr('limited', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; sleep 1000', { linux: { resources } }));
        const s = await waitState(e2e, id, State.running);
        const read = async (controller: string, file: string) => (await readFile(join(await containerCgroup(e2e, controller, id, handler), file), 'utf8')).trim();
        assert.equal(await read('memory', 'memory.limit_in_bytes'), String(48 * MiB));
        assert.equal(await read('cpu', 'cpu.cfs_quota_us'), '50000');
        assert.equal(await read('cpu', 'cpu.cfs_period_us'), '100000');
        assert.equal(await read('cpu', 'cpu.shares'), '512');
        // The container's own view of its limit, from inside.
        for (let i = 0; i < 100 && (await readOutput(s.logPath)).stdout.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual((await readOutput(s.logPath)).stdout, [String(48 * MiB)]);
        await e2e.daemon.client.runtime.StopContainer!({ containerId: id, timeout: 0 });
      });

      it('a read-only root refuses writes with EROFS; a default root takes them', async (t) => {
        if (!usable(t)) return;
        const out = await runToExit(e2e, pod, ctr('readonly', 'touch /written 2>&1; echo rc=$?; (echo x > /etc/passwd) 2>&1; echo rc=$?', security({ readonlyRootfs: true })));
        assert.deepEqual(out.stdout, ['touch: /written: Read-only file system', 'rc=1', 'sh: can\'t create /etc/passwd: Read-only file system', 'rc=1']);
        const writable = await runToExit(e2e, pod, ctr('writable', 'touch /written; echo rc=$?'));
        assert.deepEqual(writable.stdout, ['rc=0']);
      });

      it('a dropped capability is absent from CapEff and its operation fails', async (t) => {
        if (!usable(t)) return;
        const script = 'grep CapEff /proc/self/status; touch /tmp/f; chown 1 /tmp/f 2>&1; echo rc=$?';
        const [dropped, defaults] = await Promise.all([
          runToExit(e2e, pod, ctr('nochown', script, security({ capabilities: { dropCapabilities: ['CHOWN'] } }))),
          runToExit(e2e, pod, ctr('defaultcaps', script)),
        ]);
        assert.equal(capEff(defaults.stdout), defaultCapMask, `default set: ${defaults.stdout[0]}`);
        assert.equal(capEff(dropped.stdout), defaultCapMask & ~(1n << BigInt(CAP.CHOWN)), `without CHOWN: ${dropped.stdout[0]}`);
        assert.equal(defaults.stdout.at(-1), 'rc=0');
        assert.deepEqual(dropped.stdout.slice(1), ['chown: /tmp/f: Operation not permitted', 'rc=1']);
      });

      it('seccomp RuntimeDefault blocks unshare(CLONE_NEWUSER); Unconfined allows it', async (t) => {
        if (!usable(t)) return;
        // A new user namespace needs no capability, so only the seccomp filter can refuse it.
        const script = 'unshare -U true 2>&1; echo rc=$?';
        const [confined, unconfined] = await Promise.all([
          runToExit(e2e, pod, ctr('seccomp-default', script, security({ seccomp: { profileType: 0 } }))),
          runToExit(e2e, pod, ctr('seccomp-unconfined', script, security({ seccomp: { profileType: 1 } }))),
        ]);
        assert.deepEqual(unconfined.stdout, ['rc=0']);
        assert.equal(confined.stdout.at(-1), 'rc=1');
        assert.match(confined.stdout[0] ?? '', /unshare.*Operation not permitted/);
      });

      it('run_as_username takes uid and gid from the image\'s /etc/passwd; the primary group is a supplementary one', async (t) => {
        if (!usable(t)) return;
        // The user's group lists no members in /etc/group: only the runtime adds it to the process's groups.
        const out = await runToExit(e2e, pod, ctr('named-user', 'id -u; id -g; id -un; id; echo "HOME=$HOME"', security({ runAsUsername: imageUser.name })));
        const { name, uid, gid } = imageUser;
        assert.deepEqual(out.stdout, [String(uid), String(gid), name, `uid=${uid}(${name}) gid=${gid}(${name}) groups=${gid}(${name})`, 'HOME=/home/app']);
        assert.equal(out.status.user.linux.uid, uid);
        assert.equal(out.status.user.linux.gid, gid);
        assert.deepEqual(out.status.user.linux.supplementalGroups, [gid]);
      });
    });
  }

  describe('a CreateContainer failing after its first steps', () => {
    it('is INVALID_ARGUMENT and leaves no record, mount or directory; the name is free again', async () => {
      const d = e2e.daemon;
      const pod = await runPod(e2e, podConfig(e2e, 'create-fails'));
      const snapshot = async () => ({
        run: await readdir(join(d.dir, 'run', 'containers')).catch(() => []),
        root: await readdir(join(d.dir, 'root', 'containers')).catch(() => []),
        mounts: (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(d.dir)),
      });
      const before = await snapshot();
      // The capability is checked while the spec is built: after the log path is made and the rootfs mounted.
      const config = containerConfig(e2e, 'badcap', ['true'], { linux: { securityContext: { capabilities: { addCapabilities: ['NOT_A_CAPABILITY'] } } } });
      await assert.rejects(d.client.runtime.CreateContainer!({ podSandboxId: pod.id, config, sandboxConfig: pod.config }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /NOT_A_CAPABILITY/);
        return true;
      });
      assert.deepEqual(await snapshot(), before);
      // conmon was started early, to load while the rootfs was made: it is gone, with the log file it opened.
      await assert.rejects(stat(join(pod.config.logDirectory, config.logPath)), { code: 'ENOENT' });
      assert.equal((await run('pgrep', ['-f', 'conmon.* -n k8s_badcap_']).catch(() => ({ stdout: '' }))).stdout.trim(), '');
      assert.deepEqual((await d.client.runtime.ListContainers!({ filter: { podSandboxId: pod.id } })).containers, []);
      const out = await runToExit(e2e, pod, { ...config, linux: {} });
      assert.equal(out.status.exitCode, 0);
      await d.client.runtime.RemovePodSandbox!({ podSandboxId: pod.id });
    });
  });

  describe('a runtime handler from a config drop-in', () => {
    it('is listed, runs a pod and its containers end to end, and keeps its state under its own root', async () => {
      const runtimeStatus = await e2e.daemon.client.runtime.Status!({});
      assert.ok(runtimeStatus.runtimeHandlers.some((h: { name: string }) => h.name === myrunc.name), 'Status lists the handler');
      const pod = await runPod(e2e, podConfig(e2e, 'handler-pod'), myrunc.name);
      assert.equal((await e2e.daemon.client.runtime.PodSandboxStatus!({ podSandboxId: pod.id })).status.runtimeHandler, myrunc.name);

      const id = await startContainer(e2e, pod, containerConfig(e2e, 'sleeper', ['sleep', '1000']));
      await waitState(e2e, id, State.running);
      const state = JSON.parse((await run(runcPath, ['--root', myrunc.root, 'state', id])).stdout) as { status: string; pid: number };
      assert.equal(state.status, 'running');
      assert.ok((await stat(join(myrunc.root, id, 'state.json'))).isFile());
      // conmon was told to run the handler's binary by its configured name.
      const conmons = (await run('pgrep', ['-f', `conmon.*-c ${id}`])).stdout.trim().split('\n');
      const cmdline = (await readFile(`/proc/${conmons[0]}/cmdline`, 'utf8')).split('\0');
      assert.equal(cmdline[cmdline.indexOf('-r') + 1], myrunc.binary);
      assert.equal(cmdline[cmdline.indexOf('--runtime-arg') + 1], `--root=${myrunc.root}`);

      const out = await runToExit(e2e, pod, containerConfig(e2e, 'hello', ['sh', '-c', 'echo hello from myrunc; exit 4']));
      assert.deepEqual(out.stdout, ['hello from myrunc']);
      assert.equal(out.status.exitCode, 4);

      await e2e.daemon.client.runtime.StopPodSandbox!({ podSandboxId: pod.id });
      assert.equal((await containerStatus(e2e, id)).state, State.exited);
      await e2e.daemon.client.runtime.RemovePodSandbox!({ podSandboxId: pod.id });
      await assert.rejects(stat(join(myrunc.root, id)), 'runc state removed with the container');
    });

    it('a handler whose binary is missing fails RunPodSandbox with the reason, leaving nothing behind', async () => {
      const config = podConfig(e2e, 'missing-binary');
      await assert.rejects(e2e.daemon.client.runtime.RunPodSandbox!({ config, runtimeHandler: missingHandler }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.FAILED_PRECONDITION);
        assert.match(err.details, new RegExp(`runtime_handler: runtime "${missingHandler}": binary .*not-installed not found`));
        return true;
      });
      assert.deepEqual((await e2e.daemon.client.runtime.ListPodSandbox!({ filter: { labelSelector: { pod: 'missing-binary' } } })).items, []);
      const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(config.metadata.uid));
      assert.deepEqual(mounts, []);
    });

    it('an unknown handler is INVALID_ARGUMENT naming the field and the configured handlers', async () => {
      await assert.rejects(e2e.daemon.client.runtime.RunPodSandbox!({ config: podConfig(e2e, 'nohandler'), runtimeHandler: 'no-such-handler' }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /runtime_handler: unknown runtime handler "no-such-handler" \(configured: .*myrunc/);
        return true;
      });
    });
  });
});
