import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { evaluatePolicy, loadPolicy, parsePolicy, PolicyError, policyScopes, type Policy } from '../../src/image/policy.js';
import { parseReference } from '../../src/image/reference.js';

const source = '/etc/containers/policy.json';
const digest = `sha256:${'c'.repeat(64)}`;
const accept = [{ type: 'insecureAcceptAnything' }];
const reject = [{ type: 'reject' }];

function policy(doc: unknown): Policy {
  return parsePolicy(source, JSON.stringify(doc));
}

/** Which scope decides `ref`, and whether it is allowed. */
function decide(p: Policy, ref: string): string {
  const d = evaluatePolicy(p, parseReference(ref));
  return `${d.scope} ${d.allowed ? 'allowed' : d.kind}`;
}

describe('policy scopes, most specific first', () => {
  it('lists tag, repository, namespaces, host, wildcards and the transport default', () => {
    assert.deepEqual(policyScopes(parseReference('registry.example.com:5000/ns1/ns2/app:v1')), [
      'registry.example.com:5000/ns1/ns2/app:v1',
      'registry.example.com:5000/ns1/ns2/app',
      'registry.example.com:5000/ns1/ns2',
      'registry.example.com:5000/ns1',
      'registry.example.com:5000',
      '*.example.com',
      '*.com',
      '',
    ]);
  });

  it('a digest comes before a tag; IPv6 and dotless hosts have no wildcards', () => {
    assert.deepEqual(policyScopes(parseReference(`[::1]:5000/x:t@${digest}`)), [`[::1]:5000/x@${digest}`, '[::1]:5000/x:t', '[::1]:5000/x', '[::1]:5000', '']);
    assert.deepEqual(policyScopes(parseReference('localhost/x')), ['localhost/x:latest', 'localhost/x', 'localhost', '']);
  });

  it('short names are looked up by their normalised docker.io form', () => {
    assert.deepEqual(policyScopes(parseReference('busybox')).slice(0, 4), [
      'docker.io/library/busybox:latest',
      'docker.io/library/busybox',
      'docker.io/library',
      'docker.io',
    ]);
  });
});

describe('evaluatePolicy', () => {
  const p = policy({
    default: reject,
    transports: {
      docker: {
        '': accept,
        'docker.io': accept,
        'docker.io/library/busybox:bad': reject,
        [`docker.io/library/busybox@${digest}`]: reject,
        'quay.io/evil': reject,
        'quay.io/evil/ok': accept,
        '*.example.com': reject,
        '*.trusted.example.com': accept,
        'host.example.com': accept,
        'signed.io': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/etc/pki/key.gpg' }],
        'sigstore.io': [{ type: 'sigstoreSigned', keyPath: '/etc/pki/cosign.pub', signedIdentity: { type: 'matchRepository' } }],
        'both.io': [{ type: 'insecureAcceptAnything' }, { type: 'reject' }],
      },
      atomic: { '': reject },
    },
  });

  const cases: [string, string][] = [
    ['busybox', 'docker.io allowed'],
    ['busybox:bad', 'docker.io/library/busybox:bad rejected'],
    [`busybox@${digest}`, `docker.io/library/busybox@${digest} rejected`],
    // With tag and digest, the digest scope is tried first, then the tag scope.
    [`busybox:bad@sha256:${'d'.repeat(64)}`, 'docker.io/library/busybox:bad rejected'],
    [`busybox:ok@${digest}`, `docker.io/library/busybox@${digest} rejected`],
    ['quay.io/evil/app', 'quay.io/evil rejected'],
    ['quay.io/evil', 'quay.io/evil rejected'],
    ['quay.io/evil/ok', 'quay.io/evil/ok allowed'],
    ['quay.io/evilish', ' allowed'],
    ['a.example.com/x', '*.example.com rejected'],
    ['a.trusted.example.com:5000/x', '*.trusted.example.com allowed'],
    ['host.example.com/x', 'host.example.com allowed'],
    ['example.com/x', ' allowed'],
    ['signed.io/x', 'signed.io unsupported'],
    ['sigstore.io/x', 'sigstore.io unsupported'],
    ['both.io/x', 'both.io rejected'],
  ];
  for (const [ref, expected] of cases) {
    it(`${ref} → ${expected}`, () => assert.equal(decide(p, ref), expected));
  }

  it('falls back to the global default when the docker transport has no "" scope', () => {
    const q = policy({ default: reject, transports: { docker: { 'quay.io': accept } } });
    assert.equal(decide(q, 'quay.io/x'), 'quay.io allowed');
    assert.equal(decide(q, 'busybox'), 'default rejected');
    assert.equal(decide(policy({ default: accept }), 'busybox'), 'default allowed');
  });

  it('explains a rejection and an unsupported requirement, failing closed', () => {
    const rejected = evaluatePolicy(p, parseReference('quay.io/evil/app:1'));
    assert.deepEqual(rejected, {
      allowed: false,
      scope: 'quay.io/evil',
      kind: 'rejected',
      reason: `policy rejects quay.io/evil/app:1 (policy scope "quay.io/evil" in ${source})`,
    });
    const unsupported = evaluatePolicy(p, parseReference('signed.io/x'));
    assert.equal(unsupported.allowed, false);
    assert.equal(
      !unsupported.allowed && unsupported.reason,
      `signature verification (signedBy) is not supported yet; refusing to pull signed.io/x:latest (policy scope "signed.io" in ${source})`,
    );
    const fromDefault = evaluatePolicy(policy({ default: [{ type: 'signedBaseLayer', baseLayerIdentity: { type: 'matchExact' } }] }), parseReference('x'));
    assert.match(!fromDefault.allowed ? fromDefault.reason : '', /\(signedBaseLayer\) is not supported yet; refusing to pull docker\.io\/library\/x:latest \("default" in /);
  });
});

describe('parsePolicy validation names the file and the JSON path', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no default', { transports: {} }, /"default" is missing/],
    ['empty default', { default: [] }, /default: expected at least one requirement/],
    ['default not a list', { default: { type: 'reject' } }, /default: expected a list of requirements, got an object/],
    ['unknown top-level key', { default: accept, transport: {} }, /unknown key "transport"/],
    ['unknown type', { default: accept, transports: { docker: { 'quay.io': [{ type: 'accept' }] } } }, /transports\.docker\["quay\.io"\]\[0\]\.type: expected one of "insecureAcceptAnything", .*, got string "accept"/],
    ['missing type', { default: [{}] }, /default\[0\]\.type: expected one of .*, got nothing/],
    ['extra key on reject', { default: [{ type: 'reject', keyPath: '/k' }] }, /unknown key default\[0\]\.keyPath/],
    ['signedBy without keyType', { default: [{ type: 'signedBy', keyPath: '/k' }] }, /default\[0\]\.keyType: expected one of "GPGKeys"/],
    ['signedBy without key', { default: [{ type: 'signedBy', keyType: 'GPGKeys' }] }, /default\[0\]: exactly one of keyPath, keyPaths, keyData is required, found none/],
    [
      'signedBy with two keys',
      { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', keyData: 'x' }] },
      /exactly one of keyPath, keyPaths, keyData is required, found keyPath, keyData/,
    ],
    ['bad signedIdentity', { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', signedIdentity: { type: 'matchAll' } }] }, /default\[0\]\.signedIdentity\.type: expected one of "matchExact"/],
    ['sigstore without key', { default: [{ type: 'sigstoreSigned' }] }, /exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki is required/],
    ['transports not an object', { default: accept, transports: [] }, /transports: expected a JSON object, got an empty list/],
    ['scope list empty in another transport', { default: accept, transports: { atomic: { x: [] } } }, /transports\.atomic\["x"\]: expected at least one requirement/],
    ['transport not an object', { default: accept, transports: { 'containers-storage': 'x' } }, /transports\.containers-storage: expected a JSON object/],
  ];
  for (const [name, doc, pattern] of cases) {
    it(name, () => {
      assert.throws(() => policy(doc), (err: unknown) => err instanceof PolicyError && err.message.startsWith(`${source}: `) && pattern.test(err.message));
    });
  }

  it('invalid JSON', () => {
    assert.throws(() => parsePolicy(source, '{"default": ['), /policy\.json: invalid JSON/);
  });

  it('keeps docker scopes and notes other transports', () => {
    const p = policy({ default: reject, transports: { docker: { '': accept }, 'docker-daemon': { '': accept } } });
    assert.deepEqual([...p.docker.keys()], ['']);
    assert.deepEqual(p.otherTransports, ['docker-daemon']);
    assert.deepEqual(p.default, [{ type: 'reject' }]);
  });
});

describe('loadPolicy', () => {
  it('a missing file fails closed with a hint', async () => {
    await assert.rejects(loadPolicy('/nonexistent/policy.json'), (err: unknown) => {
      return err instanceof PolicyError && /^\/nonexistent\/policy\.json: signature policy not found/.test(err.message) && /insecureAcceptAnything/.test(err.message);
    });
  });

  it('reads a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skiff-policy-'));
    try {
      const file = join(dir, 'policy.json');
      await writeFile(file, JSON.stringify({ default: accept }));
      const p = await loadPolicy(file);
      assert.equal(p.source, file);
      assert.equal(evaluatePolicy(p, parseReference('busybox')).allowed, true);
      await writeFile(file, '[]');
      await assert.rejects(loadPolicy(file), new RegExp(`^PolicyError: ${file}: \\(top level\\): expected a JSON object`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
