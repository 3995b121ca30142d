// In-memory tar archives for image-layer tests, including entries that GNU tar and
// friends refuse to create (`../` escapes, absolute symlinks, device nodes, odd xattrs).
// Output is deterministic: the same entries give the same bytes, so digests are stable.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Written as given: no normalisation, so `../x`, `/abs`, `a//b` and `dir/` all survive. */
  name: string;
  /** Default 'file'. */
  type?: TarEntryType;
  data?: Buffer | string;
  linkname?: string;
  /** Permission bits incl. setuid/setgid/sticky. Default 0o644 (file), 0o755 (dir), 0o777 (symlink), 0o644 others. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch. Default 1700000000. Negative or huge values go to a PAX record. */
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** Become `SCHILY.xattr.KEY` PAX records (e.g. `security.capability`, `user.foo`, `trusted.overlay.opaque`). */
  xattrs?: Record<string, Buffer | string>;
  /** Extra raw PAX records for this entry (written verbatim, after the generated ones). */
  pax?: Record<string, Buffer | string>;
  /** Raw typeflag, overriding `type` (e.g. 'S', 'V', 'Z' for unknown/unsupported kinds). */
  typeflag?: string;
}

export interface TarOptions {
  /** How names/linknames longer than 100 bytes are stored: PAX 'x' records (default, like Go) or GNU 'L'/'K'. */
  longNames?: 'pax' | 'gnu';
  /** A PAX global header ('g') written first. */
  globalPax?: Record<string, Buffer | string>;
  /** Default true: two zero blocks at the end. false gives an archive without end marker. */
  trailer?: boolean;
}

export type Compression = 'gzip' | 'zstd' | 'none';

const BLOCK = 512;
const DEFAULT_MTIME = 1_700_000_000;
const TYPEFLAGS: Record<TarEntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

/** Builds an uncompressed tar archive. */
export function buildTar(entries: TarEntry[], opts: TarOptions = {}): Buffer {
  const parts: Buffer[] = [];
  if (opts.globalPax && Object.keys(opts.globalPax).length > 0) {
    parts.push(...paxBlocks('g', 'pax_global_header', opts.globalPax));
  }
  for (const entry of entries) parts.push(...entryBlocks(entry, opts.longNames ?? 'pax'));
  if (opts.trailer !== false) parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function entryBlocks(entry: TarEntry, longNames: 'pax' | 'gnu'): Buffer[] {
  const type = entry.type ?? 'file';
  const typeflag = entry.typeflag ?? TYPEFLAGS[type];
  const data = type === 'file' || entry.typeflag !== undefined ? toBuf(entry.data ?? '') : Buffer.alloc(0);
  const mode = entry.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
  const linkname = entry.linkname ?? '';
  const fields = {
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size: data.length,
    mtime: entry.mtime ?? DEFAULT_MTIME,
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
  };

  const pax: [string, Buffer | string][] = [];
  const out: Buffer[] = [];
  const nameBytes = Buffer.from(entry.name);
  const linkBytes = Buffer.from(linkname);
  if (nameBytes.length > 100) {
    if (longNames === 'gnu') out.push(...gnuLongBlocks('L', nameBytes));
    else pax.push(['path', entry.name]);
  }
  if (linkBytes.length > 100) {
    if (longNames === 'gnu') out.push(...gnuLongBlocks('K', linkBytes));
    else pax.push(['linkpath', linkname]);
  }
  const numeric: [keyof typeof fields, number][] = [['uid', 8], ['gid', 8], ['size', 12], ['mtime', 12]];
  for (const [key, width] of numeric) {
    if (!fitsOctal(fields[key], width)) {
      pax.push([key, String(fields[key])]);
      fields[key] = 0;
    }
  }
  for (const [key, value] of Object.entries(entry.xattrs ?? {})) pax.push([`SCHILY.xattr.${key}`, value]);
  for (const [key, value] of Object.entries(entry.pax ?? {})) pax.push([key, value]);
  if (pax.length > 0) out.push(...paxBlocks('x', `PaxHeaders.0/${basename(entry.name)}`, pax));

  const header = Buffer.alloc(BLOCK);
  nameBytes.copy(header, 0, 0, Math.min(100, nameBytes.length));
  writeOctal(header, 100, 8, mode);
  writeOctal(header, 108, 8, fields.uid);
  writeOctal(header, 116, 8, fields.gid);
  writeOctal(header, 124, 12, fields.size);
  writeOctal(header, 136, 12, fields.mtime);
  header.write(typeflag.slice(0, 1) || '0', 156, 'latin1');
  linkBytes.copy(header, 157, 0, Math.min(100, linkBytes.length));
  header.write('ustar\u000000', 257, 'latin1');
  header.write((entry.uname ?? '').slice(0, 31), 265, 'utf8');
  header.write((entry.gname ?? '').slice(0, 31), 297, 'utf8');
  if (fitsOctal(fields.devmajor, 8)) writeOctal(header, 329, 8, fields.devmajor);
  if (fitsOctal(fields.devminor, 8)) writeOctal(header, 337, 8, fields.devminor);
  writeChecksum(header);
  out.push(header, ...padded(data));
  return out;
}

function paxBlocks(typeflag: 'x' | 'g', name: string, records: Record<string, Buffer | string> | [string, Buffer | string][]): Buffer[] {
  const list = Array.isArray(records) ? records : Object.entries(records);
  const body = Buffer.concat(list.map(([k, v]) => paxRecord(k, toBuf(v))));
  const header = Buffer.alloc(BLOCK);
  Buffer.from(name).copy(header, 0, 0, 100);
  writeOctal(header, 100, 8, 0o644);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, body.length);
  writeOctal(header, 136, 12, 0);
  header.write(typeflag, 156, 'latin1');
  header.write('ustar\u000000', 257, 'latin1');
  writeChecksum(header);
  return [header, ...padded(body)];
}

/** One PAX record: "LEN KEY=VALUE\n" where LEN counts the whole record including its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=`) + value.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function gnuLongBlocks(typeflag: 'L' | 'K', value: Buffer): Buffer[] {
  const body = Buffer.concat([value, Buffer.alloc(1)]);
  const header = Buffer.alloc(BLOCK);
  header.write('././@LongLink', 0, 'latin1');
  writeOctal(header, 100, 8, 0o644);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, body.length);
  writeOctal(header, 136, 12, 0);
  header.write(typeflag, 156, 'latin1');
  header.write('ustar  \u0000', 257, 'latin1');
  writeChecksum(header);
  return [header, ...padded(body)];
}

function fitsOctal(value: number, width: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (width - 1);
}

function writeOctal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\u0000', offset, width, 'latin1');
}

function writeChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'latin1');
}

function padded(data: Buffer): Buffer[] {
  if (data.length === 0) return [];
  const rem = data.length % BLOCK;
  return rem === 0 ? [data] : [data, Buffer.alloc(BLOCK - rem)];
}

function basename(name: string): string {
  const parts = name.split('/').filter((p) => p !== '');
  return (parts[parts.length - 1] ?? 'entry').slice(0, 80);
}

function toBuf(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}

// ---------------------------------------------------------------------------------------
// Compression

/** gzip via node zlib (deterministic: mtime 0), zstd via the `zstd` CLI, or the bytes as they are. */
export function compress(data: Buffer, compression: Compression): Buffer {
  switch (compression) {
    case 'none':
      return data;
    case 'gzip':
      return gzipSync(data);
    case 'zstd':
      return execFileSync('zstd', ['-q', '-c', '-3', '--no-progress'], { input: data, maxBuffer: 1 << 30 });
  }
}

export function decompress(data: Buffer, compression: Compression): Buffer {
  switch (compression) {
    case 'none':
      return data;
    case 'gzip':
      return gunzipSync(data);
    case 'zstd':
      return execFileSync('zstd', ['-q', '-d', '-c', '--no-progress'], { input: data, maxBuffer: 1 << 30 });
  }
}

/** Guesses the compression from magic bytes. */
export function detectCompression(data: Buffer): Compression {
  if (data[0] === 0x1f && data[1] === 0x8b) return 'gzip';
  if (data.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------
// Reading, for asserting on what was built (or on what skiff writes)

export interface ParsedTarEntry {
  name: string;
  typeflag: string;
  type: TarEntryType | 'other';
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  devmajor: number;
  devminor: number;
  data: Buffer;
  xattrs: Record<string, Buffer>;
  /** All PAX records that applied to this entry (global ones included). */
  pax: Record<string, Buffer>;
}

/** A small tolerant tar reader: ustar, PAX x/g, GNU L/K. Stops at the first zero block or end of data. */
export function readTar(buf: Buffer): ParsedTarEntry[] {
  const entries: ParsedTarEntry[] = [];
  const globalPax: Record<string, Buffer> = {};
  let localPax: Record<string, Buffer> = {};
  let gnuName: string | undefined;
  let gnuLink: string | undefined;
  let off = 0;
  while (off + BLOCK <= buf.length) {
    const header = buf.subarray(off, off + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = parseNumeric(header.subarray(124, 136));
    const typeflag = String.fromCharCode(header[156] ?? 0x30) || '0';
    const data = buf.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x' || typeflag === 'g') {
      const target = typeflag === 'x' ? localPax : globalPax;
      Object.assign(target, parsePax(data));
      continue;
    }
    if (typeflag === 'L') { gnuName = cstr(data); continue; }
    if (typeflag === 'K') { gnuLink = cstr(data); continue; }
    const pax = { ...globalPax, ...localPax };
    const prefix = cstr(header.subarray(345, 500));
    let name = cstr(header.subarray(0, 100));
    if (header.subarray(257, 262).toString('latin1') === 'ustar' && prefix) name = `${prefix}/${name}`;
    const xattrs: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
    const num = (key: string, fallback: number) => (pax[key] ? Number(pax[key].toString()) : fallback);
    const realSize = num('size', size);
    const type = (Object.entries(TYPEFLAGS).find(([, f]) => f === typeflag)?.[0] ??
      (typeflag === '\u0000' || typeflag === '7' ? 'file' : 'other')) as TarEntryType | 'other';
    entries.push({
      name: pax.path?.toString() ?? gnuName ?? name,
      typeflag,
      type,
      linkname: pax.linkpath?.toString() ?? gnuLink ?? cstr(header.subarray(157, 257)),
      mode: parseNumeric(header.subarray(100, 108)),
      uid: num('uid', parseNumeric(header.subarray(108, 116))),
      gid: num('gid', parseNumeric(header.subarray(116, 124))),
      uname: pax.uname?.toString() ?? cstr(header.subarray(265, 297)),
      gname: pax.gname?.toString() ?? cstr(header.subarray(297, 329)),
      mtime: num('mtime', parseNumeric(header.subarray(136, 148))),
      devmajor: parseNumeric(header.subarray(329, 337)),
      devminor: parseNumeric(header.subarray(337, 345)),
      data: realSize === size ? Buffer.from(data) : Buffer.from(data.subarray(0, realSize)),
      xattrs,
      pax,
    });
    localPax = {};
    gnuName = undefined;
    gnuLink = undefined;
  }
  return entries;
}

function parsePax(data: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number(data.subarray(off, space).toString());
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(space + 1, off + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq >= 0) out[record.subarray(0, eq).toString()] = Buffer.from(record.subarray(eq + 1));
    off += len;
  }
  return out;
}

function parseNumeric(field: Buffer): number {
  if ((field[0] ?? 0) & 0x80) {
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + (field[i] ?? 0);
    return v;
  }
  const s = cstr(field).trim();
  return s ? parseInt(s, 8) : 0;
}

function cstr(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

// ---------------------------------------------------------------------------------------
// Convenience entries

/** `.wh.NAME` whiteout for `path` (AUFS/OCI style). */
export function whiteout(path: string): TarEntry {
  const i = path.lastIndexOf('/');
  return { name: i < 0 ? `.wh.${path}` : `${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}` };
}

/** `DIR/.wh..wh..opq` opaque-directory marker. */
export function opaqueWhiteout(dir: string): TarEntry {
  return { name: `${dir.replace(/\/+$/, '')}/.wh..wh..opq` };
}
