import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadRegistryTls, RegistryTlsError } from '../../src/image/registry_tls.js';

async function withCerts(files: Record<string, string>, body: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'skiff-certs-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(join(root, name, '..'), { recursive: true });
      await writeFile(join(root, name), text);
    }
    await body(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

describe('loadRegistryTls', () => {
  it('no directory for the host: undefined', async () => {
    await withCerts({ 'other.io/ca.crt': 'CA' }, async (root) => {
      assert.equal(await loadRegistryTls(root, 'quay.io'), undefined);
    });
    assert.equal(await loadRegistryTls('/nonexistent/certs.d', 'quay.io'), undefined);
  });

  it('*.crt files are CAs in name order; a .cert/.key pair is the client certificate', async () => {
    await withCerts(
      {
        'registry.io:5000/b.crt': 'CA-B',
        'registry.io:5000/a.crt': 'CA-A',
        'registry.io:5000/client.cert': 'CERT',
        'registry.io:5000/client.key': 'KEY',
        'registry.io:5000/README': 'ignored',
        'registry.io:5000/sub/c.crt': 'not read',
      },
      async (root) => {
        const tls = await loadRegistryTls(root, 'registry.io:5000');
        assert.deepEqual(tls?.ca.map((b) => b.toString()), ['CA-A', 'CA-B']);
        assert.equal(tls?.cert?.toString(), 'CERT');
        assert.equal(tls?.key?.toString(), 'KEY');
      },
    );
  });

  it('CAs only, or an empty directory', async () => {
    await withCerts({ 'ca.io/ca.crt': 'CA', 'empty.io/.keep': '' }, async (root) => {
      assert.deepEqual(await loadRegistryTls(root, 'ca.io'), { ca: [Buffer.from('CA')] });
      assert.deepEqual(await loadRegistryTls(root, 'empty.io'), { ca: [] });
    });
  });

  it('a .cert without its .key, or a .key without its .cert, is an error naming the file', async () => {
    await withCerts({ 'a.io/client.cert': 'CERT', 'b.io/client.key': 'KEY', 'c.io/x.cert': 'C', 'c.io/y.key': 'K' }, async (root) => {
      await assert.rejects(loadRegistryTls(root, 'a.io'), (err: unknown) => {
        return err instanceof RegistryTlsError && err.message.startsWith(join(root, 'a.io', 'client.cert')) && /without its key client\.key/.test(err.message);
      });
      await assert.rejects(loadRegistryTls(root, 'b.io'), new RegExp(`${join(root, 'b.io', 'client.key')}: key without its client certificate client\\.cert`));
      await assert.rejects(loadRegistryTls(root, 'c.io'), /x\.cert: client certificate without its key x\.key/);
    });
  });

  it('more than one client pair is refused', async () => {
    await withCerts({ 'a.io/one.cert': 'C1', 'a.io/one.key': 'K1', 'a.io/two.cert': 'C2', 'a.io/two.key': 'K2' }, async (root) => {
      await assert.rejects(loadRegistryTls(root, 'a.io'), /more than one client certificate \(one\.cert, two\.cert\)/);
    });
  });

  it('a host name that would leave the root, or a file where the directory should be, is an error', async () => {
    await withCerts({ 'file.io': 'not a dir' }, async (root) => {
      await assert.rejects(loadRegistryTls(root, '../etc'), /invalid registry name "\.\.\/etc"/);
      await assert.rejects(loadRegistryTls(root, '..'), /invalid registry name/);
      await assert.rejects(loadRegistryTls(root, 'file.io'), /file\.io: cannot read certificate directory: not a directory/);
    });
  });
});
