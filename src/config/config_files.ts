// Reading configuration files the way every containers tool does: a missing
// main file is fine, drop-ins apply in plain code-unit order (as `ls` in the C locale).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';

type ErrorFor = (message: string) => Error;

/** The file's text, or undefined when it does not exist; other failures become `errorFor`'s error. */
export async function readOptionalFile(file: string, errorFor: ErrorFor): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errorFor(`${file}: cannot read: ${(err as Error).message}`);
  }
}

/** Regular files ending in `extension` directly in `dir`, sorted; none when the dir is missing. */
export async function dropInFiles(dir: string, extension: string, errorFor: ErrorFor): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw errorFor(`${dir}: cannot read drop-in directory: ${(err as Error).message}`);
  }
  const files: string[] = [];
  for (const name of names.filter((n) => n.endsWith(extension)).sort()) {
    const file = join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info && !info.isDirectory()) files.push(file);
  }
  return files;
}

/** A TOML document as a table; a syntax error becomes `errorFor`'s error naming the source, line and column. */
export function parseTomlTable(source: string, text: string, errorFor: ErrorFor): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const detail = err instanceof TomlError ? `line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}` : String(err);
    throw errorFor(`${source}: invalid TOML: ${detail}`);
  }
}

/** Whether a parsed TOML value is a table (smol-toml gives dates as Date objects). */
export function isTomlTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** A parsed TOML value in words, for "expected X, got Y" errors. */
export function describeTomlValue(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'object' && value !== null) return 'a table';
  return `${typeof value} ${String(value)}`;
}
