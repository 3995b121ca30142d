import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { startChild } from '../../src/process/child.js';
import { collect } from '../helpers/socket_text.js';

/** A child that reads one byte from its start pipe (fd 3) and prints it; what it printed and said, and how it ended. */
async function startPipeReader(act: (start: Socket) => void) {
  const child = await startChild('/bin/sh', ['-c', 'head -c 1 <&3'], { env: { PATH: '/usr/bin:/bin' }, stdio: ['null', 'pipe', 'pipe', 'start'] });
  const [, stdout, stderr, start] = child.stdio as Socket[];
  start!.on('error', () => undefined);
  const outputs = Promise.all([collect(stdout!), collect(stderr!)]);
  act(start!);
  const [out, err] = await outputs;
  const exit = await child.exited;
  for (const s of child.stdio) s?.destroy();
  return { out, err, exit };
}

describe('startChild: a start pipe', () => {
  it('hands the child the byte we write', async () => {
    const { out, exit } = await startPipeReader((start) => start.end('g'));
    assert.equal(out, 'g');
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  it('closed unwritten, fails the child read with a reset rather than ending it', async () => {
    // Not at once: a while open is a while in which our end must not be read from.
    const { out, err, exit } = await startPipeReader((start) => setTimeout(() => start.destroy(), 100));
    assert.equal(out, '');
    assert.match(err, /Connection reset by peer/);
    assert.deepEqual(exit, { code: 1, signal: null });
  });
});
