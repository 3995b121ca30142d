import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  digestProblem,
  domainProblem,
  formatReference,
  InvalidReferenceError,
  isShortName,
  parseReference,
  qualifyShortName,
  repositoryName,
  splitShortName,
} from '../../src/image/reference.js';

const hex64 = 'a'.repeat(64);
const digest = `sha256:${hex64}`;

describe('parseReference normalises like docker', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/user/app:2', 'docker.io/user/app:2'],
    ['docker.io/library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b:1', 'localhost:5000/a/b:1'],
    [`127.0.0.1:5000/x@${digest}`, `127.0.0.1:5000/x@${digest}`],
    [`quay.io/ns/app:v1@${digest}`, `quay.io/ns/app:v1@${digest}`],
    ['[::1]:5000/x', '[::1]:5000/x:latest'],
    ['[fe80::1]/x:tag', '[fe80::1]/x:tag'],
    ['a/b/c/d/e', 'docker.io/a/b/c/d/e:latest'],
    ['my-registry.example.com:443/team/app:1.0-rc_2', 'my-registry.example.com:443/team/app:1.0-rc_2'],
    ['ab__cd/e.f/g--h', 'docker.io/ab__cd/e.f/g--h:latest'],
    ['MyRegistry/app', 'MyRegistry/app:latest'], // capitals make the first component a host
    ['localhost:5000', 'docker.io/library/localhost:5000'], // no slash: ":5000" is a tag, as docker reads it
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(formatReference(parseReference(input)), expected));
  }

  it('splits into domain, path, tag and digest', () => {
    assert.deepEqual(parseReference('busybox'), { domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
    assert.deepEqual(parseReference(`localhost:5000/x@${digest}`), { domain: 'localhost:5000', path: 'x', digest });
    assert.deepEqual(parseReference(`x:t@${digest}`), { domain: 'docker.io', path: 'library/x', tag: 't', digest });
  });

  it('accepts sha384 and sha512 digests', () => {
    assert.equal(parseReference(`x@sha512:${'0'.repeat(128)}`).digest, `sha512:${'0'.repeat(128)}`);
    assert.equal(parseReference(`x@sha384:${'0'.repeat(96)}`).digest, `sha384:${'0'.repeat(96)}`);
  });

  it('accepts a 128-character tag and a 255-character name, no more', () => {
    assert.equal(parseReference(`x:${'t'.repeat(128)}`).tag, 't'.repeat(128));
    const path = 'p'.repeat(255 - 'example.com/'.length);
    assert.equal(parseReference(`example.com/${path}`).path, path);
    assert.throws(() => parseReference(`example.com/${path}q`), /must not be more than 255 characters/);
  });
});

describe('parseReference errors name the input and the problem', () => {
  const cases: [string, RegExp][] = [
    ['', /^invalid image reference "": empty reference$/],
    ['Busybox', /^invalid image reference "Busybox": repository name must be lowercase$/],
    ['quay.io/Ns/app', /"quay.io\/Ns\/app": repository name must be lowercase/],
    ['x:', /^invalid image reference "x:": empty tag$/],
    ['x:-bad', /invalid tag "-bad"/],
    [`x:${'t'.repeat(129)}`, /invalid tag/],
    ['x@', /"x@": empty digest/],
    ['x@sha256:abc', /^invalid image reference "x@sha256:abc": invalid digest "sha256:abc": expected 64 hex digits$/],
    [`x@sha256:${'A'.repeat(64)}`, /hex digits must be lowercase/],
    [`x@sha512:${hex64}`, /expected 128 hex digits/],
    [`x@md5:${hex64}`, /unsupported algorithm "md5"/],
    ['x@nocolon', /expected ALGORITHM:HEX/],
    [':tag', /empty repository name/],
    [`@${digest}`, /empty repository name/],
    ['a//b', /empty path component/],
    ['example.com/', /empty path component/],
    ['a/-b', /invalid path component "-b"/],
    ['a/b_', /invalid path component "b_"/],
    ['a/b___c', /invalid path component "b___c"/],
    ['exa_mple.com/x', /invalid registry host "exa_mple.com"/],
    ['example.com:port/x', /invalid registry port "port"/],
    ['[::1/x', /malformed IPv6 address/],
    ['[zz::1]:5000/x', /malformed IPv6 address/],
    [hex64, /image ID, not a repository name/],
  ];
  for (const [input, pattern] of cases) {
    it(JSON.stringify(input), () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => err instanceof InvalidReferenceError && err.input === input && pattern.test(err.message),
      );
    });
  }
});

describe('short names', () => {
  it('isShortName is true only when no registry is named', () => {
    for (const s of ['busybox', 'library/busybox', 'user/app:1', `busybox@${digest}`, 'a/b/c']) assert.equal(isShortName(s), true, s);
    for (const s of ['docker.io/busybox', 'quay.io/x', 'localhost/x', 'localhost:5000/x', 'host:5000/x', '[::1]/x', 'Host/x']) {
      assert.equal(isShortName(s), false, s);
    }
  });

  it('qualifyShortName adds library/ on docker.io only', () => {
    assert.equal(formatReference(qualifyShortName('busybox', 'docker.io')), 'docker.io/library/busybox:latest');
    assert.equal(formatReference(qualifyShortName('busybox', 'index.docker.io')), 'docker.io/library/busybox:latest');
    assert.equal(formatReference(qualifyShortName('user/app:2', 'docker.io')), 'docker.io/user/app:2');
    assert.equal(formatReference(qualifyShortName('busybox', 'quay.io')), 'quay.io/busybox:latest');
    assert.equal(formatReference(qualifyShortName(`busybox@${digest}`, 'localhost:5000')), `localhost:5000/busybox@${digest}`);
    // A search entry without a dot is still the registry, not a Docker Hub namespace.
    assert.equal(formatReference(qualifyShortName('busybox', 'myregistry')), 'myregistry/busybox:latest');
  });

  it('qualifyShortName refuses qualified names, bad registries and bad names', () => {
    assert.throws(() => qualifyShortName('quay.io/x', 'docker.io'), /not a short name: it names registry "quay.io"/);
    assert.throws(() => qualifyShortName('busybox', 'https://x'), /cannot search registry "https:\/\/x"/);
    assert.throws(() => qualifyShortName('BusyBox', 'quay.io'), /"BusyBox": repository name must be lowercase/);
  });

  it('splitShortName keeps the name as written', () => {
    assert.deepEqual(splitShortName('busybox'), { name: 'busybox' });
    assert.deepEqual(splitShortName(`library/busybox:1@${digest}`), { name: 'library/busybox', tag: '1', digest });
    assert.throws(() => splitShortName('localhost/x'), /not a short name/);
    assert.throws(() => splitShortName('x:'), /empty tag/);
    assert.throws(() => qualifyShortName('a'.repeat(64), 'docker.io'), /image ID, not a repository name/);
  });
});

describe('formatting and helpers', () => {
  it('formatReference and repositoryName', () => {
    assert.equal(formatReference({ domain: 'host', path: 'x', digest }), `host/x@${digest}`);
    assert.equal(formatReference({ domain: 'host', path: 'x', tag: 't', digest }), `host/x:t@${digest}`);
    assert.equal(formatReference({ domain: 'host', path: 'x' }), 'host/x');
    assert.equal(repositoryName(parseReference('busybox')), 'docker.io/library/busybox');
  });

  it('domainProblem and digestProblem', () => {
    assert.equal(domainProblem('quay.io'), undefined);
    assert.equal(domainProblem('[::1]:5000'), undefined);
    assert.match(domainProblem('[::1]x') ?? '', /unexpected "x"/);
    assert.match(domainProblem('-bad.io') ?? '', /invalid registry host/);
    assert.equal(digestProblem(digest), undefined);
    assert.match(digestProblem('sha256:') ?? '', /expected 64 hex digits/);
  });
});
