/**
 * Per-registry TLS material in the containers/docker layout:
 * `CERTS_ROOT/HOST[:PORT]/` holding `*.crt` (extra CA certificates) and a
 * `NAME.cert` + `NAME.key` pair (the client certificate).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A certs directory problem; the message names the file. */
export class RegistryTlsError extends Error {
  override name = 'RegistryTlsError';
}

export interface RegistryTls {
  /** Extra CAs, to be added to (not to replace) `tls.rootCertificates` by the caller. */
  ca: Buffer[];
  cert?: Buffer;
  key?: Buffer;
}

/**
 * The TLS material for `hostPort`, or undefined when it has no directory.
 * Files are read in name order. A `.cert` without its `.key` (or the reverse)
 * is an error rather than a silent anonymous connection, and so is more than
 * one client pair, since a connection presents one certificate.
 */
export async function loadRegistryTls(certsRoot: string, hostPort: string): Promise<RegistryTls | undefined> {
  // The name becomes a path: refuse anything that could leave certsRoot.
  if (hostPort === '' || hostPort === '.' || hostPort === '..' || hostPort.includes('/') || hostPort.includes('\0')) {
    throw new RegistryTlsError(`${certsRoot}: invalid registry name "${hostPort}" for a certificate directory`);
  }
  const dir = join(certsRoot, hostPort);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new RegistryTlsError(`${dir}: cannot read certificate directory: ${code === 'ENOTDIR' ? 'not a directory' : (err as Error).message}`);
  }
  const names = entries.filter((e) => !e.isDirectory()).map((e) => e.name).sort();
  const tls: RegistryTls = { ca: [] };
  const pairs: string[] = [];
  for (const name of names) {
    if (name.endsWith('.crt')) {
      tls.ca.push(await readMaterial(join(dir, name)));
    } else if (name.endsWith('.cert')) {
      const base = name.slice(0, -'.cert'.length);
      if (!names.includes(`${base}.key`)) {
        throw new RegistryTlsError(`${join(dir, name)}: client certificate without its key ${base}.key (CA certificates must end in .crt)`);
      }
      pairs.push(base);
    } else if (name.endsWith('.key')) {
      const base = name.slice(0, -'.key'.length);
      if (!names.includes(`${base}.cert`)) {
        throw new RegistryTlsError(`${join(dir, name)}: key without its client certificate ${base}.cert`);
      }
    }
  }
  if (pairs.length > 1) {
    throw new RegistryTlsError(`${dir}: more than one client certificate (${pairs.map((p) => `${p}.cert`).join(', ')}); keep one pair`);
  }
  const [pair] = pairs;
  if (pair !== undefined) {
    tls.cert = await readMaterial(join(dir, `${pair}.cert`));
    tls.key = await readMaterial(join(dir, `${pair}.key`));
  }
  return tls;
}

async function readMaterial(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new RegistryTlsError(`${file}: cannot read: ${(err as Error).message}`);
  }
}
