import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { buildContainerSpec } from '../../src/oci/spec/container.js';
import { baseInput, containerConfig, env, fakeRootfs, rpcError } from './helpers.js';

const imageWith = (config: Record<string, unknown>): { config: Record<string, unknown> } => ({ config: { architecture: 'amd64', config } });

describe('process args, env and working dir', () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    root = await fakeRootfs({ '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n' });
  });
  after(() => root.cleanup());

  const image = imageWith({ Entrypoint: ['/entry', '-e'], Cmd: ['serve', '--port=80'], Env: ['PATH=/image/bin', 'A=image', 'B=image'] });

  async function argsOf(command: string[], args: string[]): Promise<string[]> {
    const { spec } = await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command, args }), image }));
    return spec.process.args;
  }

  it('uses Entrypoint + Cmd when the CRI gives neither', async () => {
    assert.deepEqual(await argsOf([], []), ['/entry', '-e', 'serve', '--port=80']);
  });

  it('CRI args replace Cmd and keep the Entrypoint', async () => {
    assert.deepEqual(await argsOf([], ['run', 'x']), ['/entry', '-e', 'run', 'x']);
  });

  it('CRI command replaces the Entrypoint and drops the image Cmd', async () => {
    assert.deepEqual(await argsOf(['/bin/sh', '-c'], []), ['/bin/sh', '-c']);
    assert.deepEqual(await argsOf(['/bin/sh', '-c'], ['echo hi']), ['/bin/sh', '-c', 'echo hi']);
  });

  it('args alone run when the image has no Entrypoint', async () => {
    const { spec } = await buildContainerSpec(
      baseInput(root.dir, { config: containerConfig({ args: ['/bin/true'] }), image: imageWith({ Cmd: ['/bin/false'] }) }),
    );
    assert.deepEqual(spec.process.args, ['/bin/true']);
  });

  it('no command anywhere is INVALID_ARGUMENT naming config.command', async () => {
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { config: containerConfig({}), image: imageWith({}) })),
      rpcError(status.INVALID_ARGUMENT, /^config\.command: /),
    );
  });

  it('an empty program or a NUL in an argument is rejected with its index', async () => {
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: [''] }) })),
      rpcError(status.INVALID_ARGUMENT, /^config\.command\[0\]: /),
    );
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/a'], args: ['ok', 'b\0ad'] }) })),
      rpcError(status.INVALID_ARGUMENT, /^config\.args\[1\]: .*NUL/),
    );
  });

  it('a malformed image config is FAILED_PRECONDITION naming the field', async () => {
    await assert.rejects(
      buildContainerSpec(baseInput(root.dir, { image: imageWith({ Cmd: 'not a list' }) })),
      rpcError(status.FAILED_PRECONDITION, /^image config Cmd: /),
    );
  });

  it('env: image Env, then HOSTNAME, then CRI envs by name; PATH kept; HOME from passwd', async () => {
    const { spec } = await buildContainerSpec(
      baseInput(root.dir, {
        config: containerConfig({ command: ['/x'], envs: [env('B', 'cri'), env('C', 'cri=with=equals'), env('EMPTY', '')] }),
        image,
      }),
    );
    assert.deepEqual(spec.process.env, ['PATH=/image/bin', 'A=image', 'B=cri', 'HOSTNAME=pod-host', 'C=cri=with=equals', 'EMPTY=', 'HOME=/root']);
  });

  it('env: PATH gets a default when nobody sets it; a CRI HOSTNAME wins', async () => {
    const { spec } = await buildContainerSpec(
      baseInput(root.dir, { config: containerConfig({ command: ['/x'], envs: [env('HOSTNAME', 'mine')] }), image: imageWith({ Env: ['X=1', 'NOVALUE'] }) }),
    );
    assert.deepEqual(spec.process.env, ['X=1', 'HOSTNAME=mine', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root']);
  });

  it('env: bad names and values are INVALID_ARGUMENT with the index', async () => {
    const bad = async (kv: { key: string; value: Uint8Array }, re: RegExp): Promise<void> => {
      await assert.rejects(
        buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'], envs: [env('OK', '1'), kv] }) })),
        rpcError(status.INVALID_ARGUMENT, re),
      );
    };
    await bad(env('', 'v'), /^config\.envs\[1\]\.key: must not be empty/);
    await bad(env('A=B', 'v'), /^config\.envs\[1\]\.key: .*"="/);
    await bad(env('A', 'v\0x'), /^config\.envs\[1\]\.value: contains a NUL/);
    await bad({ key: 'A', value: new Uint8Array([0xff, 0xfe]) }, /^config\.envs\[1\]\.value: is not valid UTF-8/);
  });

  it('working dir: CRI, else image, else "/"; must be absolute and clean', async () => {
    const cwd = async (workingDir: string, imageDir?: string): Promise<string> => {
      const { spec } = await buildContainerSpec(
        baseInput(root.dir, { config: containerConfig({ command: ['/x'], workingDir }), image: imageWith(imageDir === undefined ? {} : { WorkingDir: imageDir }) }),
      );
      return spec.process.cwd;
    };
    assert.equal(await cwd('', undefined), '/');
    assert.equal(await cwd('', '/srv/app/'), '/srv/app');
    assert.equal(await cwd('/work//dir/', '/srv/app'), '/work/dir');
    await assert.rejects(cwd('relative/dir'), rpcError(status.INVALID_ARGUMENT, /^config\.working_dir: .*absolute/));
    await assert.rejects(cwd('/a/../../etc'), rpcError(status.INVALID_ARGUMENT, /^config\.working_dir: .*"\.\."/));
  });

  it('terminal follows tty', async () => {
    const { spec } = await buildContainerSpec(baseInput(root.dir, { config: containerConfig({ command: ['/x'], tty: true }) }));
    assert.equal(spec.process.terminal, true);
    const plain = await buildContainerSpec(baseInput(root.dir));
    assert.equal(plain.spec.process.terminal, false);
  });
});
