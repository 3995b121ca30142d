import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load.js';
import { renderConfig } from '../../src/config/render.js';
import { runCli, scratchDir } from '../helpers/daemon.js';

async function withFiles(files: Record<string, string>): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const scratch = await scratchDir('skiff-config-');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(scratch.dir, name, '..'), { recursive: true });
    await writeFile(join(scratch.dir, name), text);
  }
  return scratch;
}

describe('config precedence', () => {
  it('defaults < system file < drop-ins in lexical order < --config < flags', async () => {
    const s = await withFiles({
      'skiff.toml': 'log_level = "warn"\nroot = "/from/system"\n[streaming]\nport = 1000\n',
      'skiff.d/10-first.toml': 'root = "/from/10"\n[streaming]\nport = 1010\n',
      'skiff.d/20-second.toml': '[streaming]\nport = 1020\n[network]\ncni_plugin_dirs = ["/from/20"]\n',
      'skiff.d/ignored.conf': 'this is not toml and is not read',
      'extra.toml': '[network]\ncni_plugin_dirs = ["/from/extra"]\n',
    });
    try {
      const config = await loadConfig({
        systemFile: join(s.dir, 'skiff.toml'),
        dropInDir: join(s.dir, 'skiff.d'),
        extraFile: join(s.dir, 'extra.toml'),
        flags: [
          { flag: 'cni-plugin-dir', value: '/flag/a' },
          { flag: 'cni-plugin-dir', value: '/flag/b' },
        ],
      });
      assert.equal(config.log_level, 'warn'); // only the system file sets it
      assert.equal(config.root, '/from/10'); // drop-in over system file
      assert.equal(config.streaming.port, 1020); // later drop-in wins
      assert.deepEqual(config.network.cni_plugin_dirs, ['/flag/a', '/flag/b']); // flags over --config
      assert.equal(config.runroot, '/run/skiff'); // untouched default
    } finally {
      await s.cleanup();
    }
  });

  it('a [runtimes.NAME] drop-in adds a handler without code change', async () => {
    const s = await withFiles({
      'skiff.d/50-kata.toml': '[runtimes.kata]\nruntime_path = "/usr/bin/kata-runtime"\nruntime_root = "/run/kata"\n',
    });
    try {
      const config = await loadConfig({ systemFile: '', dropInDir: join(s.dir, 'skiff.d'), flags: [] });
      assert.equal(config.runtimes.kata?.runtime_path, '/usr/bin/kata-runtime');
      assert.equal(config.runtimes.kata?.runtime_type, 'oci');
      assert.ok(config.runtimes.runc, 'built-in handlers stay');
      const viaFlag = await loadConfig({
        systemFile: '',
        dropInDir: join(s.dir, 'none'),
        flags: [
          { flag: 'runtime', value: 'runc2.runtime_path=/usr/sbin/runc' },
          { flag: 'default-runtime', value: 'runc2' },
        ],
      });
      assert.equal(viaFlag.runtimes.runc2?.runtime_path, '/usr/sbin/runc');
      assert.equal(viaFlag.default_runtime, 'runc2');
    } finally {
      await s.cleanup();
    }
  });

  it('a missing --config file is an error, a missing system file is not', async () => {
    await assert.rejects(
      loadConfig({ systemFile: '/nonexistent/skiff.toml', dropInDir: '/nonexistent', extraFile: '/nonexistent/x.toml', flags: [] }),
      /\/nonexistent\/x\.toml: config file not found/,
    );
  });
});

describe('config validation names the file, the key and what was expected', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown key', '[network]\ncni_dir = "/x"\n', /bad\.toml: unknown key "network\.cni_dir" \(known here: cni_config_dir, /],
    ['unknown top-level key', 'rooot = "/x"\n', /bad\.toml: unknown key "rooot"/],
    ['wrong type', '[streaming]\nport = "80"\n', /bad\.toml: key "streaming\.port": expected an integer from 0 to 65535, got string "80"/],
    ['out of range', '[image]\nmax_concurrent_downloads = 0\n', /key "image\.max_concurrent_downloads": expected an integer from 1 to 64, got number 0/],
    ['bad enum', 'cgroup_manager = "cgroupv3"\n', /key "cgroup_manager": expected one of "cgroupfs", "systemd", got string "cgroupv3"/],
    ['relative path', 'root = "var/lib"\n', /key "root": expected an absolute path, got string "var\/lib"/],
    ['bad handler key', '[runtimes.kata]\nruntime_pth = "/x"\n', /unknown key "runtimes\.kata\.runtime_pth"/],
    ['bad runtime type', '[runtimes.kata]\nruntime_type = "vm"\n', /key "runtimes\.kata\.runtime_type": expected one of "oci", got string "vm"/],
    ['section as value', 'network = 3\n', /key "network": expected a table/],
    ['unknown default runtime', 'default_runtime = "kata"\n', /bad\.toml: key "default_runtime": expected one of the configured handlers \(runc, crun\), got "kata"/],
    ['invalid TOML', 'root = \n', /bad\.toml: invalid TOML: line 1/],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => {
      assert.throws(() => parseConfigText('/etc/skiff/skiff.d/bad.toml', text), (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, expected);
        return true;
      });
    });
  }

  it('a bad value in a drop-in fails `skiff daemon` start-up with the file named', async () => {
    const s = await withFiles({ 'skiff.d/30-bad.toml': 'log_level = "loud"\n' });
    try {
      const result = await runCli(['daemon', '--system-config', '', '--config-dir', join(s.dir, 'skiff.d'), '--root', join(s.dir, 'r'), '--runroot', join(s.dir, 'rr'), '--listen', join(s.dir, 's.sock')]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /30-bad\.toml: key "log_level": expected one of "fatal", .*got string "loud"/);
    } finally {
      await s.cleanup();
    }
  });
});

describe('skiff config', () => {
  it('prints commented TOML that loads back to the same configuration and the same text', async () => {
    const s = await withFiles({
      'skiff.d/10.toml': '[runtimes.kata]\nruntime_path = "/usr/bin/kata"\nmonitor_env = ["A=1", "B=2"]\n[runtimes."v2.shim"]\nruntime_type = "oci"\n',
    });
    try {
      const first = await runCli(['config', '--system-config', '', '--config-dir', join(s.dir, 'skiff.d'), '--stream-port', '10010', '--cni-plugin-dir', '/a', '--cni-plugin-dir', '/b']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^# /m, 'has comments');
      assert.match(first.stdout, /^\[runtimes\.kata\]$/m);
      await writeFile(join(s.dir, 'printed.toml'), first.stdout);
      const second = await runCli(['config', '--system-config', '', '--config-dir', join(s.dir, 'empty'), '--config', join(s.dir, 'printed.toml')]);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(second.stdout, first.stdout);
      const parsed = parseConfigText('printed.toml', first.stdout);
      assert.equal(parsed.streaming.port, 10010);
      assert.deepEqual(parsed.network.cni_plugin_dirs, ['/a', '/b']);
      assert.deepEqual(parsed.runtimes.kata?.monitor_env, ['A=1', 'B=2']);
      assert.ok(parsed.runtimes['v2.shim']);
      assert.equal(renderConfig(parsed), first.stdout);
    } finally {
      await s.cleanup();
    }
  });

  it('every key of the schema has a flag in --help', async () => {
    const help = await runCli(['daemon', '--help']);
    for (const flag of ['--config', '--config-dir', '--root', '--runroot', '--listen', '--log-level', '--cgroup-manager', '--default-runtime', '--registries-conf', '--signature-policy', '--cni-config-dir', '--cni-plugin-dir', '--stream-address', '--stream-port', '--metrics-port', '--runtime']) {
      assert.match(help.stdout, new RegExp(`${flag}[ ,]`), `missing ${flag}`);
    }
  });
});
