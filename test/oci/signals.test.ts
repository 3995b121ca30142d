import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { criSignalName, normalizeSignal, signalNumber, stopSignal } from '../../src/oci/spec/signals.js';
import { Signal } from '../../src/proto/cri.js';
import { baseInput, containerConfig, fakeRootfs, rpcError } from './helpers.js';

describe('stop signal', () => {
  it('normalises names, short names, numbers and aliases', () => {
    assert.equal(normalizeSignal('SIGQUIT'), 'SIGQUIT');
    assert.equal(normalizeSignal('quit'), 'SIGQUIT');
    assert.equal(normalizeSignal('3'), 'SIGQUIT');
    assert.equal(normalizeSignal(' SIGTERM '), 'SIGTERM');
    assert.equal(normalizeSignal('SIGCLD'), 'SIGCHLD');
    assert.equal(normalizeSignal('IOT'), 'SIGABRT');
    assert.equal(normalizeSignal('SIGRTMIN+3'), 'SIGRTMIN+3');
    assert.equal(normalizeSignal('RTMAX-1'), 'SIGRTMAX-1');
    assert.equal(normalizeSignal('37'), 'SIGRTMIN+3');
    assert.equal(normalizeSignal('64'), 'SIGRTMAX');
    for (const bad of ['SIGFOO', '0', '65', 'SIGRTMIN-1', 'SIGRTMAX+1', '']) assert.equal(normalizeSignal(bad), undefined, bad);
    assert.equal(signalNumber('SIGKILL'), 9);
    assert.equal(signalNumber('SIGRTMIN+1'), 35);
  });

  it('maps every CRI Signal enum value', () => {
    assert.equal(criSignalName(Signal.SIGQUIT), 'SIGQUIT');
    assert.equal(criSignalName(Signal.SIGRTMINPLUS1), 'SIGRTMIN+1');
    assert.equal(criSignalName(Signal.SIGRTMAXMINUS14), 'SIGRTMAX-14');
    assert.equal(criSignalName(Signal.SIGPOLL), 'SIGIO');
    for (const v of Object.values(Signal).filter((v): v is number => typeof v === 'number' && v !== 0)) {
      assert.ok(criSignalName(v), `enum ${Signal[v]}`);
    }
  });

  it('CRI stop_signal, else the image StopSignal, else SIGTERM', () => {
    assert.equal(stopSignal(Signal.SIGUSR1, 'SIGQUIT'), 'SIGUSR1');
    assert.equal(stopSignal(Signal.RUNTIME_DEFAULT, '3'), 'SIGQUIT');
    assert.equal(stopSignal(Signal.RUNTIME_DEFAULT, ''), 'SIGTERM');
    assert.throws(() => stopSignal(Signal.RUNTIME_DEFAULT, 'SIGBOGUS'), rpcError(status.INVALID_ARGUMENT, /^image config StopSignal: unknown signal "SIGBOGUS"/));
    assert.throws(() => stopSignal(999 as Signal, ''), rpcError(status.INVALID_ARGUMENT, /^config\.stop_signal: /));
  });

  describe('from buildContainerSpec', () => {
    let root: { dir: string; cleanup: () => Promise<void> };
    before(async () => {
      root = await fakeRootfs({});
    });
    after(() => root.cleanup());

    it('returns the resolved stop signal', async () => {
      const image = { config: { config: { Cmd: ['/x'], StopSignal: 'SIGWINCH' } } };
      assert.equal((await buildContainerSpec(baseInput(root.dir, { config: containerConfig({}), image }))).stopSignal, 'SIGWINCH');
      assert.equal((await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ stopSignal: Signal.SIGINT }), image }))).stopSignal, 'SIGINT');
      assert.equal((await buildContainerSpec(baseInput(root.dir))).stopSignal, 'SIGTERM');
    });
  });
});
