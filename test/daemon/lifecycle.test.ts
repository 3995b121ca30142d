import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, isolatedFlags, runCli, scratchDir, startDaemon } from '../helpers/daemon.js';

const exists = (p: string) => stat(p).then(() => true, () => false);

describe('daemon lifecycle', () => {
  it('creates the socket with mode 0660 and its parent directories', async () => {
    const scratch = await scratchDir();
    const socket = join(scratch.dir, 'deep', 'er', 'skiff.sock');
    const daemon = await startDaemon(scratch.dir, ['--listen', socket]);
    try {
      const st = await stat(socket);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
    } finally {
      await daemon.stop();
      await scratch.cleanup();
    }
  });

  it('a second daemon on the same socket exits non-zero with a clear message', async () => {
    const first = await scratchDir();
    const second = await scratchDir();
    const daemon = await startDaemon(first.dir);
    try {
      const result = await runCli(['daemon', ...isolatedFlags(second.dir), '--listen', daemon.socket]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /another skiff daemon is using socket .*skiff\.sock/);
      // The first one still serves.
      const version = await daemon.client.runtime.Version!({});
      assert.equal(version.runtimeName, 'skiff');
    } finally {
      await daemon.stop();
      await first.cleanup();
      await second.cleanup();
    }
  });

  it('a second daemon on the same root exits non-zero', async () => {
    const first = await scratchDir();
    const second = await scratchDir();
    const daemon = await startDaemon(first.dir);
    try {
      const result = await runCli(['daemon', ...isolatedFlags(second.dir), '--root', join(first.dir, 'root')]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /another skiff daemon is using root /);
    } finally {
      await daemon.stop();
      await first.cleanup();
      await second.cleanup();
    }
  });

  it('two daemons with their own root, runroot and socket run side by side', async () => {
    const a = await scratchDir();
    const b = await scratchDir();
    const one = await startDaemon(a.dir);
    const two = await startDaemon(b.dir);
    try {
      assert.equal((await one.client.runtime.Version!({})).runtimeName, 'skiff');
      assert.equal((await two.client.runtime.Version!({})).runtimeName, 'skiff');
      assert.equal(await one.stop(), 0);
      // Stopping one leaves the other's socket and service alone.
      assert.ok(await exists(two.socket));
      assert.equal((await two.client.runtime.Version!({})).runtimeName, 'skiff');
    } finally {
      await one.stop();
      await two.stop();
      await a.cleanup();
      await b.cleanup();
    }
  });

  it('SIGTERM stops it with exit 0 and removes the socket; SIGINT too', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const scratch = await scratchDir();
      const daemon = await startDaemon(scratch.dir);
      const exited = new Promise<number | null>((resolve) => daemon.proc.once('exit', resolve));
      daemon.client.close();
      daemon.proc.kill(signal);
      assert.equal(await exited, 0, daemon.stderr());
      assert.equal(await exists(daemon.socket), false);
      await scratch.cleanup();
    }
  });

  it('replaces a stale socket left by a killed daemon', async () => {
    const scratch = await scratchDir();
    const first = await startDaemon(scratch.dir);
    const exited = new Promise((resolve) => first.proc.once('exit', resolve));
    first.client.close();
    first.proc.kill('SIGKILL');
    await exited;
    assert.ok(await exists(first.socket), 'SIGKILL should leave the socket behind');
    const second = await startDaemon(scratch.dir);
    try {
      assert.equal((await second.client.runtime.Version!({})).runtimeName, 'skiff');
    } finally {
      await second.stop();
      await scratch.cleanup();
    }
  });

  it('refuses to start with a bad config and names the problem', async () => {
    const scratch = await scratchDir();
    const proc = spawn(process.execPath, [cliPath, 'daemon', ...isolatedFlags(scratch.dir), '--stream-port', '70000']);
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((resolve) => proc.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(stderr, /--stream-port: key "streaming\.port": expected an integer from 0 to 65535, got number 70000/);
    await scratch.cleanup();
  });
});
