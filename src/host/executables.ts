import { access, constants } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * Resolves a program the way execvp would: an absolute path is taken as is,
 * a bare name is searched in PATH. Returns undefined when nothing executable is found.
 */
export async function findExecutable(program: string, searchPath = process.env.PATH ?? ''): Promise<string | undefined> {
  const candidates = isAbsolute(program) ? [program] : searchPath.split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}
