import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatReference, parseReference } from '../../src/image/reference.js';
import {
  BlockedRegistryError,
  loadRegistriesConf,
  matchingRegistry,
  parseRegistriesConf,
  pullSources,
  registryApiHost,
  RegistriesConfError,
  unqualifiedCandidates,
  type PullSource,
  type RegistriesConf,
} from '../../src/image/registries_conf.js';

const digest = `sha256:${'b'.repeat(64)}`;

function conf(text: string): RegistriesConf {
  return parseRegistriesConf('/etc/containers/registries.conf', text);
}

/** Sources as "endpoint reference [insecure] [mirror]" lines, easy to compare. */
function sources(c: RegistriesConf, ref: string): string[] {
  return pullSources(c, parseReference(ref)).map(
    (s: PullSource) => `${s.endpoint} ${formatReference(s.reference)}${s.insecure ? ' insecure' : ''}${s.mirror ? ' mirror' : ''}`,
  );
}

async function withDir(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-registries-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), text);
    }
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('registries.conf parsing', () => {
  it('reads every v2 setting', () => {
    const c = conf(`
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io/", "docker.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json", "pass"]

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"alpine" = "docker.io/alpine"

[[registry]]
prefix = "example.com/foo"
location = "internal.io/bar/"
insecure = true
mirror-by-digest-only = true
[[registry.mirror]]
location = "mirror.io/foo"
insecure = true

[[registry]]
location = "quay.io"
blocked = true
`);
    assert.deepEqual(c.unqualifiedSearchRegistries, ['registry.fedoraproject.org', 'quay.io', 'docker.io']);
    assert.equal(c.shortNameMode, 'enforcing');
    assert.deepEqual(c.credentialHelpers, ['containers-auth.json', 'pass']);
    assert.deepEqual([...c.aliases], [
      ['fedora', 'registry.fedoraproject.org/fedora'],
      ['alpine', 'docker.io/library/alpine'],
    ]);
    assert.deepEqual(c.registries, [
      {
        prefix: 'example.com/foo',
        location: 'internal.io/bar',
        insecure: true,
        blocked: false,
        mirrorByDigestOnly: true,
        mirrors: [{ location: 'mirror.io/foo', insecure: true, pullFromMirror: 'all' }],
        source: '/etc/containers/registries.conf',
      },
      {
        prefix: 'quay.io',
        location: 'quay.io',
        insecure: false,
        blocked: true,
        mirrorByDigestOnly: false,
        mirrors: [],
        source: '/etc/containers/registries.conf',
      },
    ]);
  });

  it('defaults: permissive, no search list, auth-file helper', () => {
    const c = conf('');
    assert.equal(c.shortNameMode, 'permissive');
    assert.deepEqual(c.unqualifiedSearchRegistries, []);
    assert.deepEqual(c.credentialHelpers, ['containers-auth.json']);
    assert.deepEqual(c.registries, []);
  });

  it('keeps the first of two entries with the same prefix, as containers/image does', () => {
    const c = conf('[[registry]]\nlocation = "a.io"\n[[registry]]\nprefix = "a.io"\nlocation = "b.io"\n');
    assert.equal(c.registries.length, 1);
    assert.equal(c.registries[0]?.location, 'a.io');
  });

  const errors: [string, string, RegExp][] = [
    ['v1 format', '[registries.search]\nregistries = ["docker.io"]\n', /version 1 format .* is not supported/],
    ['unknown top-level key', 'unqualified-search = ["x.io"]\n', /registries\.conf: unknown key "unqualified-search"/],
    ['unknown registry key', '[[registry]]\nlocation = "a.io"\nurl = "x"\n', /unknown key "registry\[0\]\.url"/],
    ['unknown mirror key', '[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\nblocked = true\n', /unknown key "registry\[0\]\.mirror\[0\]\.blocked"/],
    ['wrong type', '[[registry]]\nlocation = "a.io"\ninsecure = "yes"\n', /key "registry\[0\]\.insecure": expected true or false, got string "yes"/],
    ['search not a list', 'unqualified-search-registries = "docker.io"\n', /key "unqualified-search-registries": expected an array of strings/],
    ['bad search entry', 'unqualified-search-registries = ["quay.io/ns"]\n', /key "unqualified-search-registries\[0\]": expected a registry host\[:port\]/],
    ['URL location', '[[registry]]\nlocation = "https://a.io"\n', /key "registry\[0\]\.location": expected host\[:port\]\[\/path\] without a URL scheme/],
    ['location without host', '[[registry]]\nlocation = "nodots/x"\n', /key "registry\[0\]\.location": expected a registry host at the start/],
    ['neither prefix nor location', '[[registry]]\ninsecure = true\n', /key "registry\[0\]": needs a location or a prefix/],
    ['prefix without location', '[[registry]]\nprefix = "a.io"\n', /key "registry\[0\]\.location": required unless the prefix is a wildcard/],
    ['bad wildcard', '[[registry]]\nprefix = "*.a.io/ns"\n', /key "registry\[0\]\.prefix": expected a wildcard of the form \*\.example\.com/],
    ['wildcard in the middle', '[[registry]]\nprefix = "a.*.io"\nlocation = "b.io"\n', /key "registry\[0\]\.prefix"/],
    ['mirror without location', '[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\ninsecure = true\n', /key "registry\[0\]\.mirror\[0\]\.location": required/],
    ['bad pull-from-mirror', '[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "some"\n', /expected one of "all", "digest-only", "tag-only", got string "some"/],
    ['pull-from-mirror on the registry', '[[registry]]\nlocation = "a.io"\npull-from-mirror = "all"\n', /"registry\[0\]\.pull-from-mirror": only allowed in \[\[registry\.mirror\]\]/],
    [
      'pull-from-mirror with mirror-by-digest-only',
      '[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "tag-only"\n',
      /not allowed together with mirror-by-digest-only/,
    ],
    ['bad short-name-mode', 'short-name-mode = "prompt"\n', /key "short-name-mode": expected one of "enforcing", "permissive", "disabled"/],
    ['alias name with registry', '[aliases]\n"quay.io/x" = "quay.io/x"\n', /key "aliases\.quay\.io\/x": the alias name must be a short name/],
    ['alias name with tag', '[aliases]\n"x:1" = "quay.io/x"\n', /must not carry a tag or digest/],
    ['alias value short', '[aliases]\nx = "library/x"\n', /key "aliases\.x": expected a fully-qualified repository/],
    ['alias value tagged', '[aliases]\nx = "quay.io/x:1"\n', /key "aliases\.x": expected a fully-qualified repository/],
    [
      'conflicting insecure for one location',
      '[[registry]]\nprefix = "a.io/one"\nlocation = "r.io"\n[[registry]]\nprefix = "a.io/two"\nlocation = "r.io"\ninsecure = true\n',
      /registry "r\.io" is defined more than once .* different "insecure" settings/,
    ],
    ['invalid TOML', 'unqualified-search-registries = [\n', /registries\.conf: invalid TOML: line \d+/],
  ];
  for (const [name, text, pattern] of errors) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => conf(text),
        (err: unknown) => err instanceof RegistriesConfError && err.message.startsWith('/etc/containers/registries.conf') && pattern.test(err.message),
      );
    });
  }
});

describe('prefix matching', () => {
  const c = conf(`
[[registry]]
location = "example.com"
[[registry]]
location = "example.com/foo"
[[registry]]
location = "example.com/foo/bar:v1"
[[registry]]
prefix = "*.example.com"
[[registry]]
prefix = "*.deep.example.com"
[[registry]]
location = "exact.example.com"
`);
  const match = (ref: string): string | undefined => matchingRegistry(c, parseReference(ref))?.prefix;

  it('longest prefix at a component boundary wins', () => {
    assert.equal(match('example.com/foo/bar'), 'example.com/foo');
    assert.equal(match('example.com/foo'), 'example.com/foo');
    assert.equal(match('example.com/foobar'), 'example.com');
    assert.equal(match('example.com/other/x'), 'example.com');
  });

  it('a prefix with a tag matches that tag only', () => {
    assert.equal(match('example.com/foo/bar:v1'), 'example.com/foo/bar:v1');
    assert.equal(match(`example.com/foo/bar:v1@${digest}`), 'example.com/foo/bar:v1');
    assert.equal(match('example.com/foo/bar:v10'), 'example.com/foo');
  });

  it('a host does not match the same host with a port', () => {
    assert.equal(match('example.com:5000/x'), undefined);
  });

  it('wildcards match subdomains only, nearest wildcard first, exact host over wildcard', () => {
    assert.equal(match('a.example.com/x'), '*.example.com');
    assert.equal(match('a.b.example.com:5000/x'), '*.example.com');
    assert.equal(match('x.deep.example.com/y'), '*.deep.example.com');
    assert.equal(match('exact.example.com/y'), 'exact.example.com');
    assert.equal(match('notexample.com/x'), undefined);
  });

  it('an exact host of the same length as a wildcard still wins', () => {
    const tie = conf('[[registry]]\nprefix = "*.example.com"\ninsecure = true\n[[registry]]\nlocation = "a.example.com"\n');
    assert.equal(matchingRegistry(tie, parseReference('a.example.com/x'))?.prefix, 'a.example.com');
  });
});

describe('pullSources', () => {
  it('an unmatched reference is pulled from itself, securely; docker.io through its API host', () => {
    assert.deepEqual(sources(conf(''), 'busybox'), ['registry-1.docker.io docker.io/library/busybox:latest']);
    assert.deepEqual(sources(conf(''), 'localhost:5000/x:1'), ['localhost:5000 localhost:5000/x:1']);
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('quay.io'), 'quay.io');
  });

  it('rewrites prefix to location for the primary and every mirror', () => {
    const c = conf(`
[[registry]]
prefix = "example.com/foo"
location = "internal.io/bar"
insecure = true
[[registry.mirror]]
location = "mirror-a.io:5000/m"
[[registry.mirror]]
location = "mirror-b.io"
insecure = true
`);
    assert.deepEqual(sources(c, 'example.com/foo/img:1'), [
      'mirror-a.io:5000 mirror-a.io:5000/m/img:1 mirror',
      'mirror-b.io mirror-b.io/img:1 insecure mirror',
      'internal.io internal.io/bar/img:1 insecure',
    ]);
    assert.deepEqual(sources(c, `example.com/foo/a/b@${digest}`), [
      `mirror-a.io:5000 mirror-a.io:5000/m/a/b@${digest} mirror`,
      `mirror-b.io mirror-b.io/a/b@${digest} insecure mirror`,
      `internal.io internal.io/bar/a/b@${digest} insecure`,
    ]);
  });

  it('a rewrite that leaves no repository is an error naming the entry, not a Docker Hub name', () => {
    const c = conf('[[registry]]\nprefix = "example.com/foo"\nlocation = "internal.io"\n');
    assert.throws(
      () => pullSources(c, parseReference('example.com/foo:1')),
      (err: unknown) =>
        err instanceof RegistriesConfError &&
        /registries\.conf: registry "example\.com\/foo": rewriting example\.com\/foo:1 to location "internal\.io" leaves no repository name/.test(err.message),
    );
  });

  it('docker.io mirrors keep library/ and the primary uses the API host', () => {
    const c = conf('[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "mirror.gcr.io"\n');
    assert.deepEqual(sources(c, 'busybox:1'), [
      'mirror.gcr.io mirror.gcr.io/library/busybox:1 mirror',
      'registry-1.docker.io docker.io/library/busybox:1',
    ]);
  });

  it('mirror-by-digest-only uses mirrors for digests only', () => {
    const c = conf('[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\n');
    assert.deepEqual(sources(c, 'a.io/x:1'), ['a.io a.io/x:1']);
    assert.deepEqual(sources(c, `a.io/x@${digest}`), [`m.io m.io/x@${digest} mirror`, `a.io a.io/x@${digest}`]);
    assert.deepEqual(sources(c, `a.io/x:1@${digest}`), [`m.io m.io/x:1@${digest} mirror`, `a.io a.io/x:1@${digest}`]);
  });

  it('pull-from-mirror picks mirrors per kind of reference, keeping config order', () => {
    const c = conf(`
[[registry]]
location = "a.io"
[[registry.mirror]]
location = "digests.io"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.io"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "all.io"
pull-from-mirror = "all"
`);
    assert.deepEqual(sources(c, 'a.io/x:1'), ['tags.io tags.io/x:1 mirror', 'all.io all.io/x:1 mirror', 'a.io a.io/x:1']);
    assert.deepEqual(sources(c, `a.io/x@${digest}`), [
      `digests.io digests.io/x@${digest} mirror`,
      `all.io all.io/x@${digest} mirror`,
      `a.io a.io/x@${digest}`,
    ]);
  });

  it('a wildcard entry without location keeps the name and applies its settings', () => {
    const c = conf('[[registry]]\nprefix = "*.corp.io"\ninsecure = true\n[[registry.mirror]]\nlocation = "cache.io/corp"\n');
    assert.deepEqual(sources(c, 'reg.corp.io:5000/team/app:1'), [
      'cache.io cache.io/corp/team/app:1 mirror',
      'reg.corp.io:5000 reg.corp.io:5000/team/app:1 insecure',
    ]);
  });

  it('a blocked entry refuses the pull, mirrors included, naming the registry and file', () => {
    const c = conf('[[registry]]\nlocation = "evil.io"\nblocked = true\n[[registry.mirror]]\nlocation = "m.io"\n');
    assert.throws(
      () => pullSources(c, parseReference('evil.io/x')),
      (err: unknown) =>
        err instanceof BlockedRegistryError &&
        err.prefix === 'evil.io' &&
        /pulling evil\.io\/x:latest is blocked: registry "evil\.io" has blocked = true in \/etc\/containers\/registries\.conf/.test(err.message),
    );
    assert.deepEqual(sources(c, 'evil.io.example/x'), ['evil.io.example evil.io.example/x:latest']);
  });
});

describe('unqualifiedCandidates', () => {
  it('falls back to docker.io when no search registries are set', () => {
    assert.deepEqual(unqualifiedCandidates(conf(''), 'busybox').map(formatReference), ['docker.io/library/busybox:latest']);
  });

  it('tries each search registry in order, docker.io adding library/', () => {
    const c = conf('unqualified-search-registries = ["quay.io", "docker.io", "localhost:5000"]\n');
    assert.deepEqual(unqualifiedCandidates(c, 'busybox:1').map(formatReference), [
      'quay.io/busybox:1',
      'docker.io/library/busybox:1',
      'localhost:5000/busybox:1',
    ]);
    assert.deepEqual(unqualifiedCandidates(c, `ns/app@${digest}`).map(formatReference), [
      `quay.io/ns/app@${digest}`,
      `docker.io/ns/app@${digest}`,
      `localhost:5000/ns/app@${digest}`,
    ]);
  });

  it('an alias replaces the search and keeps the tag or digest', () => {
    const c = conf('unqualified-search-registries = ["quay.io"]\n[aliases]\nbusybox = "registry.example.com/mirror/busybox"\n');
    assert.deepEqual(unqualifiedCandidates(c, 'busybox').map(formatReference), ['registry.example.com/mirror/busybox:latest']);
    assert.deepEqual(unqualifiedCandidates(c, 'busybox:1.36').map(formatReference), ['registry.example.com/mirror/busybox:1.36']);
    assert.deepEqual(unqualifiedCandidates(c, `busybox@${digest}`).map(formatReference), [`registry.example.com/mirror/busybox@${digest}`]);
    // Aliases are keyed by the name as written: library/busybox is a different short name.
    assert.deepEqual(unqualifiedCandidates(c, 'library/busybox').map(formatReference), ['quay.io/library/busybox:latest']);
  });

  it('a qualified name is its own only candidate; invalid names throw', () => {
    assert.deepEqual(unqualifiedCandidates(conf(''), 'quay.io/x').map(formatReference), ['quay.io/x:latest']);
    assert.throws(() => unqualifiedCandidates(conf(''), 'BusyBox'), /repository name must be lowercase/);
  });
});

describe('loadRegistriesConf with drop-ins', () => {
  it('a missing file and directory give the empty configuration', async () => {
    const c = await loadRegistriesConf('/nonexistent/registries.conf', '/nonexistent/registries.conf.d');
    assert.deepEqual(c.registries, []);
    assert.deepEqual(c.sources, []);
  });

  it('applies *.conf drop-ins in lexical order after the main file', async () => {
    await withDir(
      {
        'registries.conf': `
unqualified-search-registries = ["quay.io"]
[aliases]
keep = "quay.io/keep"
drop = "quay.io/drop"
change = "quay.io/old"
[[registry]]
location = "a.io"
[[registry]]
location = "b.io"
insecure = true
`,
        'registries.conf.d/10-first.conf': `
short-name-mode = "disabled"
[[registry]]
location = "b.io"
[[registry.mirror]]
location = "m.io"
`,
        'registries.conf.d/20-second.conf': `
unqualified-search-registries = []
[aliases]
drop = ""
change = "quay.io/new"
[[registry]]
location = "c.io"
blocked = true
`,
        'registries.conf.d/30-ignored.toml': 'this is not read',
        'registries.conf.d/40-dir.conf/inner.conf': 'nor is this',
      },
      async (dir) => {
        const c = await loadRegistriesConf(join(dir, 'registries.conf'), join(dir, 'registries.conf.d'));
        assert.deepEqual(c.sources.map((s) => s.slice(dir.length + 1)), [
          'registries.conf',
          'registries.conf.d/10-first.conf',
          'registries.conf.d/20-second.conf',
        ]);
        assert.deepEqual(c.registries.map((r) => r.prefix), ['a.io', 'b.io', 'c.io']);
        const b = c.registries.find((r) => r.prefix === 'b.io');
        assert.equal(b?.insecure, false, 'the drop-in entry replaces the whole entry');
        assert.deepEqual(b?.mirrors.map((m) => m.location), ['m.io']);
        assert.equal(b?.source, join(dir, 'registries.conf.d/10-first.conf'));
        assert.equal(c.shortNameMode, 'disabled');
        assert.deepEqual(c.unqualifiedSearchRegistries, [], 'an explicit empty list replaces the search list');
        assert.equal(c.unqualifiedSearchRegistriesSource, join(dir, 'registries.conf.d/20-second.conf'));
        assert.deepEqual([...c.aliases].sort(), [
          ['change', 'quay.io/new'],
          ['keep', 'quay.io/keep'],
        ]);
      },
    );
  });

  it('a search list survives drop-ins that do not set it', async () => {
    await withDir(
      {
        'registries.conf': 'unqualified-search-registries = ["quay.io"]\n',
        'd/a.conf': '[[registry]]\nlocation = "a.io"\n',
      },
      async (dir) => {
        const c = await loadRegistriesConf(join(dir, 'registries.conf'), join(dir, 'd'));
        assert.deepEqual(c.unqualifiedSearchRegistries, ['quay.io']);
        assert.equal(c.unqualifiedSearchRegistriesSource, join(dir, 'registries.conf'));
      },
    );
  });

  it('errors in a drop-in name that file; v1 is refused in drop-ins too', async () => {
    await withDir(
      {
        'd/50-bad.conf': '[[registry]]\nlocation = "a.io"\nmirrors = []\n',
        'e/50-v1.conf': '[registries.insecure]\nregistries = ["a.io"]\n',
      },
      async (dir) => {
        await assert.rejects(loadRegistriesConf(join(dir, 'none.conf'), join(dir, 'd')), (err: unknown) => {
          return err instanceof RegistriesConfError && err.message.startsWith(join(dir, 'd/50-bad.conf')) && /unknown key "registry\[0\]\.mirrors"/.test(err.message);
        });
        await assert.rejects(loadRegistriesConf(join(dir, 'none.conf'), join(dir, 'e')), /50-v1\.conf: the version 1 format/);
      },
    );
  });
});
