// The driver's protocol pieces without a runtime: conmon's command line,
// sync-pipe messages (as conmon 2.1.6 writes them), runtime error text,
// the CRI log format, exit files and the ctl FIFO.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { attachSocketPath, conmonCreateArgs, conmonLogLevel, conmonPipeEnvironment, runtimeEnvironment } from '../../src/oci/runtime/conmon_args.js';
import { assembleLines, parseCriLog, parseCriLogLine } from '../../src/oci/runtime/cri_log.js';
import { ctlLine, writeCtl } from '../../src/oci/runtime/ctl.js';
import { isRuntimeError, runtimeMessage, saysNotFound } from '../../src/oci/runtime/errors.js';
import { ExitWatcher, parseExitStatus, readExitFile, type ExitStatus } from '../../src/oci/runtime/exit_watcher.js';
import { parseSyncMessage, readSyncLine } from '../../src/oci/runtime/sync_pipe.js';

const run = promisify(execFile);

describe('conmon command line', () => {
  const base = {
    id: 'abc',
    name: 'k8s_app_pod_ns_uid_0',
    bundle: '/run/skiff/b/abc',
    logPath: '/var/log/pods/ns_pod_uid/app/0.log',
    exitsDir: '/run/skiff/exits',
    attachSocketDir: '/run/skiff/attach',
    runtimePath: '/usr/bin/runc',
    runtimeRoot: '/run/skiff/runtimes/runc',
    logLevel: 'info',
    systemdCgroup: false,
    terminal: false,
    stdin: false,
    stdinOnce: false,
  };

  it('has CRI-O\'s flags in CRI-O\'s order, but --sync for -P (conmon does not daemonise)', () => {
    assert.deepEqual(conmonCreateArgs({ ...base, persistDir: '/var/lib/skiff/c/abc' }), [
      '-b', '/run/skiff/b/abc',
      '-c', 'abc',
      '--exit-dir', '/run/skiff/exits',
      '-l', '/var/log/pods/ns_pod_uid/app/0.log',
      '--log-level', 'info',
      '-n', 'k8s_app_pod_ns_uid_0',
      '-p', '/run/skiff/b/abc/pidfile',
      '--persist-dir', '/var/lib/skiff/c/abc',
      '-r', '/usr/bin/runc',
      '--runtime-arg', '--root=/run/skiff/runtimes/runc',
      '--socket-dir-path', '/run/skiff/attach',
      '-u', 'abc',
      '--sync',
    ]);
  });

  it('adds -s, -t, -i and --leave-stdin-open as CRI-O does', () => {
    const tail = (over: Partial<typeof base>): string[] => conmonCreateArgs({ ...base, ...over }).slice(23);
    assert.deepEqual(tail({ systemdCgroup: true }), ['-s']);
    assert.deepEqual(tail({ terminal: true, stdin: true }), ['-t']);
    assert.deepEqual(tail({ stdin: true }), ['--leave-stdin-open', '-i']);
    assert.deepEqual(tail({ stdin: true, stdinOnce: true }), ['-i']);
    assert.deepEqual(conmonCreateArgs({ ...base, logSizeMax: 1024 }).slice(23), ['--log-size-max', '1024']);
  });

  it('passes monitor_env and nothing else of the daemon but PATH and XDG_RUNTIME_DIR', () => {
    const env = runtimeEnvironment(['PATH=/bin', 'FOO=a=b'], { PATH: '/daemon', HOME: '/root', XDG_RUNTIME_DIR: '/run/user/0' });
    assert.deepEqual(env, { PATH: '/bin', FOO: 'a=b', XDG_RUNTIME_DIR: '/run/user/0' });
  });

  it('names the pipes it is given: sync always, the start pipe only when there', () => {
    assert.deepEqual(conmonPipeEnvironment({ start: false }), { _OCI_SYNCPIPE: '3' });
    assert.deepEqual(conmonPipeEnvironment({ start: true }), { _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' });
  });

  it('maps log levels to ones conmon accepts', () => {
    assert.equal(conmonLogLevel('debug'), 'debug');
    assert.equal(conmonLogLevel('fatal'), 'error');
    assert.equal(conmonLogLevel('silent'), 'error');
  });

  it('finds the attach socket where conmon binds it, including its 107-character cut', () => {
    assert.equal(attachSocketPath('/run/skiff/attach', 'abc'), '/run/skiff/attach/abc/attach');
    const dir = `/${'d'.repeat(40)}`;
    const id = 'i'.repeat(107 - dir.length - 1);
    assert.equal(attachSocketPath(dir, id), `${dir}/${id.slice(0, -1)}/attach`);
  });
});

describe('sync pipe messages', () => {
  it('parses what conmon 2.1.6 writes', () => {
    assert.deepEqual(parseSyncMessage('{"pid": 12345}\n'), { key: 'pid', value: 12345 });
    assert.deepEqual(parseSyncMessage('{"pid": -1, "message": "runc create failed: \\"x\\"\\n"}'), {
      key: 'pid',
      value: -1,
      message: 'runc create failed: "x"\n',
    });
    assert.deepEqual(parseSyncMessage('{"data": 7}'), { key: 'data', value: 7 });
    assert.deepEqual(parseSyncMessage('{"exit_code": -1, "message": "command timed out"}'), { key: 'exit_code', value: -1, message: 'command timed out' });
  });

  it('repairs the control characters 2.1.6 leaves unescaped, and rejects junk', () => {
    assert.deepEqual(parseSyncMessage('{"pid": -1, "message": "a\u001fb"}'), { key: 'pid', value: -1, message: 'a\u001fb' });
    assert.equal(parseSyncMessage(''), undefined);
    assert.equal(parseSyncMessage('{"pid": "1"}'), undefined);
    assert.equal(parseSyncMessage('not json'), undefined);
  });

  it('reads the first line, reports EOF without one, and times out', async () => {
    const a = new PassThrough();
    const first = readSyncLine(a, 1000);
    a.write('{"pid"');
    a.write(': 42}\n{"pid": 43}\n');
    assert.deepEqual((await first).message, { key: 'pid', value: 42 });

    const b = new PassThrough();
    const eof = readSyncLine(b, 1000);
    b.end();
    const r = await eof;
    assert.equal(r.eof, true);
    assert.equal(r.message, undefined);

    const c = new PassThrough();
    const slow = await readSyncLine(c, 20);
    assert.equal(slow.timedOut, true);
  });
});

describe('runtime error text', () => {
  it('keeps the error messages of logrus lines, unquoted', () => {
    const stderr =
      'time="2026-01-01T00:00:00Z" level=warning msg="noise"\n' +
      'time="2026-01-01T00:00:00Z" level=error msg="runc create failed: unable to start container process: exec: \\"/nonexistent\\": stat /nonexistent: no such file or directory"\n';
    assert.equal(runtimeMessage(stderr), 'runc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory');
    assert.equal(runtimeMessage('cgroups in hybrid mode not supported, drop all controllers from cgroupv2\n'), 'cgroups in hybrid mode not supported, drop all controllers from cgroupv2');
  });

  it('recognises runc\'s and crun\'s "not found"', () => {
    assert.ok(saysNotFound('time="x" level=error msg="container does not exist"'));
    assert.ok(saysNotFound('time="x" level=error msg="container not running"'));
    assert.ok(saysNotFound('error opening file `/run/crun/x/status`: No such file or directory'));
    assert.ok(!saysNotFound('permission denied'));
  });
});

describe('CRI log format', () => {
  it('parses conmon\'s lines (numeric offset or Z), full and partial', () => {
    const text =
      '2026-11-27T03:46:53.412951098+00:00 stdout F out\n' +
      '2026-11-27T03:46:53.412951098+00:00 stdout P part\n' +
      '2026-11-27T03:46:53.413023716+00:00 stderr F err\n' +
      '2026-11-27T03:46:54.000000000Z stdout F ial\n' +
      '2026-11-27T03:46:54.000000000Z stdout F \n' +
      'garbage\n';
    const { entries, malformed } = parseCriLog(text);
    assert.deepEqual(malformed, ['garbage']);
    assert.deepEqual(
      entries.map((e) => [e.stream, e.partial, e.content]),
      [['stdout', false, 'out'], ['stdout', true, 'part'], ['stderr', false, 'err'], ['stdout', false, 'ial'], ['stdout', false, '']],
    );
    assert.equal(entries[0]?.timestamp, '2026-11-27T03:46:53.412951098+00:00');
    assert.equal(entries[0]?.time.toISOString(), '2026-11-27T03:46:53.412Z');
    assert.deepEqual(
      assembleLines(entries).map((l) => [l.stream, l.text, l.partial]),
      [['stdout', 'out', false], ['stderr', 'err', false], ['stdout', 'partial', false], ['stdout', '', false]],
    );
    assert.deepEqual(assembleLines(entries.slice(0, 2)).at(-1), { stream: 'stdout', text: 'part', partial: true, time: entries[1]?.time });
  });

  it('accepts extra tags after F/P and rejects unknown ones', () => {
    assert.equal(parseCriLogLine('2026-01-01T00:00:00Z stdout P:x y')?.partial, true);
    assert.equal(parseCriLogLine('2026-01-01T00:00:00Z stdout X y'), undefined);
    assert.equal(parseCriLogLine('2026-01-01T00:00:00Z stdin F y'), undefined);
  });
});

describe('exit files', () => {
  let dir: string;
  let watcher: ExitWatcher;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-exits-'));
    watcher = await ExitWatcher.open(join(dir, 'exits'));
  });
  after(async () => {
    watcher.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** As conmon (g_file_set_contents) writes: a temporary file renamed into place. */
  async function conmonWrites(id: string, status: string): Promise<void> {
    const tmp = join(dir, 'exits', `${id}.Ab12Cd`);
    await writeFile(tmp, status);
    await rename(tmp, join(dir, 'exits', id));
  }

  it('parses the decimal status without a newline', () => {
    assert.equal(parseExitStatus('0'), 0);
    assert.equal(parseExitStatus('137'), 137);
    assert.equal(parseExitStatus('-1'), -1);
    assert.equal(parseExitStatus(''), undefined);
    assert.equal(parseExitStatus('x'), undefined);
  });

  it('reports each exit once, by inotify, and never the temporary name', async () => {
    const seen: [string, ExitStatus][] = [];
    const listener = (id: string, st: ExitStatus): void => void seen.push([id, st]);
    watcher.on('exit', listener);
    const waited = watcher.waitFor('c1', 5000);
    await conmonWrites('c1', '3');
    const st = await waited;
    assert.equal(st?.exitCode, 3);
    await conmonWrites('c2', '0');
    await new Promise((r) => setTimeout(r, 300));
    watcher.off('exit', listener);
    assert.deepEqual(seen.map(([id, s]) => [id, s.exitCode]), [['c1', 3], ['c2', 0]]);
  });

  it('resolves at once for an exit already written, and undefined on timeout', async () => {
    await conmonWrites('c3', '137');
    assert.equal((await watcher.waitFor('c3', 1000))?.exitCode, 137);
    const started = Date.now();
    assert.equal(await watcher.waitFor('never', 100), undefined);
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual((await watcher.existing()).sort(), ['c1', 'c2', 'c3']);
    assert.equal((await readExitFile(join(dir, 'exits', 'c3')))?.exitCode, 137);
    assert.equal(await readExitFile(join(dir, 'exits', 'missing')), undefined);
  });
});

describe('ctl FIFO', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-ctl-'));
    await run('mkfifo', [join(dir, 'ctl')]);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes "<type> <height> <width>\\n" lines to a reader', async () => {
    // Like conmon, the reader holds a writer of its own so it never sees EOF.
    const reader = spawn('sh', ['-c', 'exec 3<>"$0"; exec cat <&3', join(dir, 'ctl')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout.on('data', (c: Buffer) => (out += c.toString()));
    // Wait for the reader to open the FIFO: a non-blocking open fails until then.
    for (let i = 0; i < 100; i++) {
      try {
        await writeCtl(dir, 'x', ctlLine(1, 40, 100));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await writeCtl(dir, 'x', ctlLine(2, 0, 0));
    await new Promise((r) => setTimeout(r, 100));
    const closed = new Promise((r) => reader.once('close', r));
    reader.kill();
    await closed;
    assert.equal(out, '1 40 100\n2 0 0\n');
  });

  it('fails at once when nobody reads (conmon gone)', async () => {
    await assert.rejects(writeCtl(dir, 'x', ctlLine(2, 0, 0)), (err) => isRuntimeError(err, 'not-found') && /conmon is not running/.test(err.message));
    await assert.rejects(writeCtl(join(dir, 'nope'), 'x', ctlLine(2, 0, 0)), (err) => isRuntimeError(err, 'not-found'));
  });
});
