import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { pushImage } from '../helpers/image_builder.js';
import { startImageDaemon } from '../helpers/image_daemon.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const layer = (text: string) => [[{ name: 'hello', data: text }]];

describe('registry auth', () => {
  for (const auth of ['basic', 'token'] as const) {
    describe(`${auth} auth`, () => {
      let registry: TestRegistry;
      before(async () => {
        registry = await startRegistry({ auth });
        await pushImage(registry, 'private/app', 'v1', { layers: layer(auth) });
      });
      after(() => registry?.stop());

      it('is refused without credentials, with UNAUTHENTICATED', async () => {
        const daemon = await startImageDaemon({ insecure: [registry.host] });
        try {
          await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${registry.host}/private/app:v1` } }), (err: { code: number; details: string }) => {
            assert.equal(err.code, status.UNAUTHENTICATED, err.details);
            assert.match(err.details, /401|authentication required|refused/);
            return true;
          });
        } finally {
          await daemon.cleanup();
        }
      });

      it('works with the CRI AuthConfig username and password', async () => {
        const daemon = await startImageDaemon({ insecure: [registry.host] });
        try {
          registry.clearLog();
          const reply = await daemon.client.image.PullImage!({
            image: { image: `${registry.host}/private/app:v1` },
            auth: { username: 'tester', password: 'tester-password' },
          });
          assert.match(reply.imageRef, /^sha256:/);
          if (auth === 'token') {
            const requests = registry.tokenRequests().filter((r) => r.account === 'tester');
            assert.ok(requests.length >= 1);
            assert.ok(requests[0]!.scopes.some((s) => s.startsWith('repository:private/app:') && s.includes('pull')), String(requests[0]!.scopes));
          }
        } finally {
          await daemon.cleanup();
        }
      });

      it('works with credentials from containers-auth.json', async () => {
        const daemon = await startImageDaemon({
          insecure: [registry.host],
          authFile: { auths: { [registry.host]: { auth: Buffer.from('tester:tester-password').toString('base64') } } },
        });
        try {
          const reply = await daemon.client.image.PullImage!({ image: { image: `${registry.host}/private/app:v1` } });
          assert.match(reply.imageRef, /^sha256:/);
        } finally {
          await daemon.cleanup();
        }
      });

      it('fails with a clear error for wrong credentials', async () => {
        const daemon = await startImageDaemon({ insecure: [registry.host] });
        try {
          await assert.rejects(
            daemon.client.image.PullImage!({ image: { image: `${registry.host}/private/app:v1` }, auth: { username: 'tester', password: 'wrong' } }),
            { code: status.UNAUTHENTICATED },
          );
        } finally {
          await daemon.cleanup();
        }
      });
    });
  }
});

describe('registries.conf and policy.json', () => {
  let primary: TestRegistry;
  let emptyMirror: TestRegistry;
  before(async () => {
    primary = await startRegistry();
    emptyMirror = await startRegistry();
    await pushImage(primary, 'library/app', 'v1', { layers: layer('from primary') });
  });
  after(async () => {
    await primary?.stop();
    await emptyMirror?.stop();
  });

  it('tries mirrors in order before the primary and falls through on failure', async () => {
    // example.invalid does not resolve: the image must come from a mirror.
    const daemon = await startImageDaemon({
      registriesConf: `[[registry]]
prefix = "example.invalid"
location = "example.invalid"
[[registry.mirror]]
location = "${emptyMirror.host}"
insecure = true
[[registry.mirror]]
location = "${primary.host}"
insecure = true
`,
    });
    try {
      primary.clearLog();
      emptyMirror.clearLog();
      const reply = await daemon.client.image.PullImage!({ image: { image: 'example.invalid/library/app:v1' } });
      assert.match(reply.imageRef, /^sha256:/);
      assert.ok(emptyMirror.manifestGets('v1') >= 1, 'first mirror asked first');
      assert.ok(primary.manifestGets('v1') >= 1);
      const { image } = await daemon.client.image.ImageStatus!({ image: { image: 'example.invalid/library/app:v1' } });
      // Names stay the logical ones, not the mirror's.
      assert.deepEqual(image.repoTags, ['example.invalid/library/app:v1']);
    } finally {
      await daemon.cleanup();
    }
  });

  it('resolves short names through unqualified-search-registries', async () => {
    const daemon = await startImageDaemon({
      insecure: [primary.host],
      registriesConf: `unqualified-search-registries = ["${primary.host}"]\n`,
    });
    try {
      await pushImage(primary, 'shortapp', 'latest', { layers: layer('short') });
      const reply = await daemon.client.image.PullImage!({ image: { image: 'shortapp' } });
      assert.match(reply.imageRef, /^sha256:/);
      const { image } = await daemon.client.image.ImageStatus!({ image: { image: `${primary.host}/shortapp:latest` } });
      assert.equal(image.id, reply.imageRef);
    } finally {
      await daemon.cleanup();
    }
  });

  it('refuses a blocked registry and stores nothing', async () => {
    const daemon = await startImageDaemon({
      registriesConf: `[[registry]]\nlocation = "${primary.host}"\ninsecure = true\nblocked = true\n`,
    });
    try {
      primary.clearLog();
      await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${primary.host}/library/app:v1` } }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.PERMISSION_DENIED);
        assert.match(err.details, /blocked/);
        return true;
      });
      assert.equal(primary.requests().length, 0);
      assert.equal((await daemon.client.image.ListImages!({})).images.length, 0);
    } finally {
      await daemon.cleanup();
    }
  });

  it('refuses plain HTTP to a registry not marked insecure', async () => {
    const daemon = await startImageDaemon();
    try {
      await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${primary.host}/library/app:v1` } }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.UNAVAILABLE, err.details);
        assert.match(err.details, new RegExp(primary.host.replace(/\./g, '\\.')));
        return true;
      });
      assert.equal(primary.manifestGets(), 0);
    } finally {
      await daemon.cleanup();
    }
  });

  it('a reject policy refuses the pull and stores nothing; scopes pick the most specific rule', async () => {
    const daemon = await startImageDaemon({
      insecure: [primary.host],
      policy: {
        default: [{ type: 'reject' }],
        transports: { docker: { [`${primary.host}/library/app`]: [{ type: 'insecureAcceptAnything' }] } },
      },
    });
    try {
      await pushImage(primary, 'library/other', 'v1', { layers: layer('other') });
      primary.clearLog();
      await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${primary.host}/library/other:v1` } }), { code: status.PERMISSION_DENIED });
      assert.equal(primary.requests().length, 0, 'nothing fetched for a rejected image');
      const ok = await daemon.client.image.PullImage!({ image: { image: `${primary.host}/library/app:v1` } });
      assert.match(ok.imageRef, /^sha256:/);
      assert.equal((await daemon.client.image.ListImages!({})).images.length, 1);
    } finally {
      await daemon.cleanup();
    }
  });

  it('signature requirements fail closed until verification exists', async () => {
    const daemon = await startImageDaemon({
      insecure: [primary.host],
      policy: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/etc/pki/key.gpg' }] },
    });
    try {
      await assert.rejects(daemon.client.image.PullImage!({ image: { image: `${primary.host}/library/app:v1` } }), (err: { code: number; details: string }) => {
        assert.equal(err.code, status.PERMISSION_DENIED);
        assert.match(err.details, /not supported yet/);
        return true;
      });
    } finally {
      await daemon.cleanup();
    }
  });
});
