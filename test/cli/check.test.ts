import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, scratchDir } from '../helpers/daemon.js';

describe('skiff check', () => {
  it('prints a row per host part and passes on a prepared host', async () => {
    const result = await runCli(['check', '--system-config', '', '--config-dir', '/nonexistent']);
    for (const row of ['root', 'overlayfs', 'cgroups', 'runtime runc (default)', 'runtime crun', 'monitor conmon', 'runtime-gate', 'pause', 'CNI plugins', 'CNI config', 'iptables']) {
      assert.match(result.stdout, new RegExp(`^${row.replace(/[()]/g, '\\$&')}\\s+(ok|FAIL|warn)\\s`, 'm'), `row ${row}`);
    }
    assert.match(result.stdout, /^runtime runc \(default\)\s+ok\s+\/\S+runc: runc version \d/m);
    assert.match(result.stdout, /^monitor conmon\s+ok\s+\/\S+conmon: conmon version \d/m);
    assert.match(result.stdout, /^runtime-gate\s+ok\s+\/\S+\/build\/runtime-gate$/m);
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
});
