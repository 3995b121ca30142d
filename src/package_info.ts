import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: this file compiles to dist/src/package_info.js. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

// Read once at start-up, before anything is served.
const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };

export const packageVersion: string = pkg.version;
