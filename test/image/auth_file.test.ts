import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuthFileError, credentialsFor, loadAuthFile, parseAuthFile, type AuthFile } from '../../src/image/auth_file.js';
import { parseReference } from '../../src/image/reference.js';

const source = '/run/containers/0/auth.json';

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function authFile(auths: Record<string, unknown>, extra: Record<string, unknown> = {}): AuthFile {
  return parseAuthFile(source, JSON.stringify({ auths, ...extra }));
}

function login(file: AuthFile, ref: string): unknown {
  return credentialsFor(file, parseReference(ref));
}

describe('credentialsFor', () => {
  const file = authFile({
    'quay.io': { auth: b64('registry-user:registry-pass') },
    'quay.io/team': { auth: b64('team-user:team:pass:with:colons') },
    'quay.io/team/app': { auth: b64('app-user:app-pass') },
    'localhost:5000': { auth: b64('local:secret') },
    'token.io': { auth: b64('ignored:ignored'), identitytoken: 'refresh-token' },
    'helper.io': {},
  });

  it('prefers repository, then namespace, then registry keys', () => {
    assert.deepEqual(login(file, 'quay.io/team/app:1'), { username: 'app-user', password: 'app-pass' });
    assert.deepEqual(login(file, 'quay.io/team/other'), { username: 'team-user', password: 'team:pass:with:colons' });
    assert.deepEqual(login(file, 'quay.io/team/app/sub'), { username: 'app-user', password: 'app-pass' });
    assert.deepEqual(login(file, 'quay.io/elsewhere/x'), { username: 'registry-user', password: 'registry-pass' });
    assert.deepEqual(login(file, 'quay.io/teamwork/x'), { username: 'registry-user', password: 'registry-pass' });
  });

  it('matches host and port exactly', () => {
    assert.deepEqual(login(file, 'localhost:5000/x'), { username: 'local', password: 'secret' });
    assert.equal(login(file, 'localhost:5001/x'), undefined);
    assert.equal(login(file, 'localhost/x'), undefined);
    assert.equal(login(file, 'docker.io/library/busybox'), undefined);
  });

  it('an identity token wins over a password; empty entries are skipped', () => {
    assert.deepEqual(login(file, 'token.io/x'), { identityToken: 'refresh-token' });
    assert.equal(login(file, 'helper.io/x'), undefined);
    const nested = authFile({ 'helper.io': { auth: b64('u:p') }, 'helper.io/ns': {} });
    assert.deepEqual(login(nested, 'helper.io/ns/x'), { username: 'u', password: 'p' });
  });

  it('accepts { domain, path } as well as a full reference', () => {
    assert.deepEqual(credentialsFor(file, { domain: 'quay.io', path: 'team/app' }), { username: 'app-user', password: 'app-pass' });
  });

  it('strips trailing NULs from passwords, as docker does', () => {
    assert.deepEqual(login(authFile({ 'a.io': { auth: b64('u:p\0\0') } }), 'a.io/x'), { username: 'u', password: 'p' });
  });
});

describe('legacy and docker config.json keys', () => {
  it('https://index.docker.io/v1/ is docker.io', () => {
    const file = authFile({ 'https://index.docker.io/v1/': { auth: b64('hub:pw') } });
    assert.deepEqual(login(file, 'busybox'), { username: 'hub', password: 'pw' });
    assert.deepEqual(login(file, 'docker.io/user/app'), { username: 'hub', password: 'pw' });
    assert.deepEqual(credentialsFor(file, { domain: 'registry-1.docker.io', path: 'library/busybox' }), { username: 'hub', password: 'pw' });
  });

  it('URL keys name the registry only; plain keys win over URL keys', () => {
    const file = authFile({
      'http://old.io:5000/v2/': { auth: b64('old:pw') },
      'https://both.io/v1/': { auth: b64('url:pw') },
      'both.io': { auth: b64('plain:pw') },
      'index.docker.io': { auth: b64('idx:pw') },
    });
    assert.deepEqual(login(file, 'old.io:5000/any/repo'), { username: 'old', password: 'pw' });
    assert.deepEqual(login(file, 'both.io/x'), { username: 'plain', password: 'pw' });
    assert.deepEqual(login(file, 'busybox'), { username: 'idx', password: 'pw' });
  });

  it('ignores docker config.json settings other than auths and keeps credHelpers', () => {
    const file = authFile({ 'a.io': { auth: b64('u:p'), email: 'x@y' } }, { credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' }, psFormat: '' });
    assert.deepEqual(login(file, 'a.io/x'), { username: 'u', password: 'p' });
    assert.deepEqual([...file.credentialHelpers], [['gcr.io', 'gcloud']]);
  });
});

describe('errors name the file and the key', () => {
  it('invalid base64', () => {
    const file = authFile({ 'bad.io': { auth: 'not base64!' }, 'good.io': { auth: b64('u:p') } });
    assert.throws(() => login(file, 'bad.io/x'), (err: unknown) => err instanceof AuthFileError && err.message === `${source}: auths["bad.io"].auth: not valid base64`);
    // A broken entry does not stop other registries from working.
    assert.deepEqual(login(file, 'good.io/x'), { username: 'u', password: 'p' });
  });

  it('base64 without padding or with junk is refused', () => {
    assert.throws(() => login(authFile({ 'a.io': { auth: 'dTpw' + 'x' } }), 'a.io/x'), /not valid base64/);
  });

  it('no colon', () => {
    assert.throws(() => login(authFile({ 'a.io': { auth: b64('justuser') } }), 'a.io/x'), /auths\["a\.io"\]\.auth: expected base64 of "username:password", found no ':'/);
  });

  it('structural problems at load', () => {
    assert.throws(() => parseAuthFile(source, '{'), /auth\.json: invalid JSON/);
    assert.throws(() => parseAuthFile(source, '[]'), /expected a JSON object with "auths"/);
    assert.throws(() => parseAuthFile(source, '{"auths": []}'), /"auths": expected an object/);
    assert.throws(() => parseAuthFile(source, '{"auths": {"a.io": "x"}}'), /auths\["a\.io"\]: expected an object/);
    assert.throws(() => parseAuthFile(source, '{"auths": {"a.io": {"auth": 1}}}'), /auths\["a\.io"\]\.auth: expected a string/);
    assert.throws(() => parseAuthFile(source, '{"credHelpers": {"a.io": 1}}'), /credHelpers\["a\.io"\]: expected a string/);
  });
});

describe('loadAuthFile', () => {
  it('a missing file or "" means no credentials', async () => {
    const missing = await loadAuthFile('/nonexistent/auth.json');
    assert.equal(missing.entries.size, 0);
    assert.equal(login(missing, 'quay.io/x'), undefined);
    assert.equal((await loadAuthFile('')).entries.size, 0);
  });

  it('reads a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skiff-auth-'));
    try {
      const file = join(dir, 'auth.json');
      await writeFile(file, JSON.stringify({ auths: { 'quay.io': { auth: b64('u:p') } } }));
      const loaded = await loadAuthFile(file);
      assert.equal(loaded.source, file);
      assert.deepEqual(login(loaded, 'quay.io/x'), { username: 'u', password: 'p' });
      await writeFile(file, 'nope');
      await assert.rejects(loadAuthFile(file), new RegExp(`^AuthFileError: ${file}: invalid JSON`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
