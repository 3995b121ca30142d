import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/daemon.js';
import { pushImage } from '../helpers/image_builder.js';
import { startImageDaemon, type ImageDaemon } from '../helpers/image_daemon.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

describe('skiff pull, images and rmi through the daemon', () => {
  let registry: TestRegistry;
  let daemon: ImageDaemon;
  before(async () => {
    registry = await startRegistry();
    daemon = await startImageDaemon({ insecure: [registry.host] });
  });
  after(async () => {
    await daemon?.cleanup();
    await registry?.stop();
  });

  it('pull prints per-layer progress lines off a terminal, images lists, rmi removes', async () => {
    const pushed = await pushImage(registry, 'cli/app', 'v1', {
      layers: [[{ name: 'a', data: Buffer.alloc(300_000, 1) }], [{ name: 'b', data: 'b' }]],
    });
    const ref = `${registry.host}/cli/app:v1`;
    const pull = await runCli(['pull', '--listen', daemon.socket, ref]);
    assert.equal(pull.code, 0, pull.stderr);
    for (const digest of pushed.layerDigests) assert.match(pull.stdout, new RegExp(`^${digest} done \\d+/\\d+$`, 'm'));
    assert.match(pull.stdout, new RegExp(`pulled ${ref.replace(/[./]/g, '\\$&')} in [\\d.]+s: ${pushed.configDigest}`));

    const images = await runCli(['images', '--listen', daemon.socket]);
    assert.equal(images.code, 0, images.stderr);
    assert.match(images.stdout, /^IMAGE\s+TAG\s+IMAGE ID\s+SIZE$/m);
    assert.match(images.stdout, new RegExp(`^${registry.host}/cli/app\\s+v1\\s+${pushed.configDigest.slice(7, 20)}\\s`, 'm'));

    const rmi = await runCli(['rmi', '--listen', daemon.socket, ref]);
    assert.equal(rmi.code, 0, rmi.stderr);
    const after = await runCli(['images', '--listen', daemon.socket]);
    assert.doesNotMatch(after.stdout, /cli\/app/);
  });

  it('a failed pull exits non-zero with the daemon\'s message', async () => {
    const pull = await runCli(['pull', '--listen', daemon.socket, `${registry.host}/cli/missing:v1`]);
    assert.equal(pull.code, 1);
    assert.match(pull.stderr, /skiff pull: pulling image .*not found \(404\)/);
  });
});
