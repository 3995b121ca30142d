import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, scratchDir } from '../helpers/daemon.js';

describe('skiff check', () => {
  it('prints a row per host part and passes on a prepared host', async () => {
    const result = await runCli(['check', '--system-config', '', '--config-dir', '/nonexistent']);
    for (const row of ['root', 'overlayfs', 'cgroups', 'runtime runc (default)', 'runtime crun', 'monitor conmon', 'pause', 'CNI plugins', 'CNI config', 'iptables']) {
      assert.match(result.stdout, new RegExp(`^${row.replace(/[()]/g, '\\$&')}\\s+(ok|FAIL|warn)\\s`, 'm'), `row ${row}`);
    }
    assert.match(result.stdout, /^runtime runc \(default\)\s+ok\s+\/\S+runc: runc version \d/m);
    assert.match(result.stdout, /^monitor conmon\s+ok\s+\/\S+conmon: conmon version \d/m);
    assert.match(result.stdout, /^pause\s+ok\s+\/\S+\/build\/pause$/m);
    assert.equal(result.code, 0, result.stdout);
  });

  it('exits non-zero with a fix hint when a required part is missing', async () => {
    const scratch = await scratchDir();
    try {
      const result = await runCli(['check', '--system-config', '', '--config-dir', '/nonexistent', '--cni-plugin-dir', join(scratch.dir, 'no-plugins'), '--runtime', 'ghost.runtime_path=/nonexistent/ghost', '--default-runtime', 'ghost']);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /^runtime ghost \(default\)\s+FAIL\s+\/nonexistent\/ghost not found/m);
      assert.match(result.stdout, /^CNI plugins\s+FAIL\s/m);
      assert.match(result.stdout, /fix: install containernetworking-plugins/);
      assert.match(result.stdout, /2 required check\(s\) failed/);
    } finally {
      await scratch.cleanup();
    }
  });

  it('fails a conmon without --sync (older than 2.0.19), which every create would trip on', async () => {
    const scratch = await scratchDir();
    try {
      const old = join(scratch.dir, 'conmon');
      const script = '#!/bin/sh\ncase "$1" in --version) echo "conmon version 2.0.10";; *) echo "  --syslog  Log to syslog"; echo "  --no-sync-log  Do not sync logs";; esac\n';
      await writeFile(old, script, { mode: 0o755 });
      const result = await runCli(['check', '--system-config', '', '--config-dir', '/nonexistent', '--runtime', `runc.monitor_path=${old}`]);
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stdout, /^monitor conmon\s+FAIL\s+\S+conmon: conmon version 2\.0\.10: no --sync option/m);
      assert.match(result.stdout, /fix: install conmon 2\.0\.19 or later/);
    } finally {
      await scratch.cleanup();
    }
  });
});
