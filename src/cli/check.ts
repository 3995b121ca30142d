import type { SkiffConfig } from '../config/schema.js';
import { checkHost } from '../host/checks.js';

/** Prints the host checks as a table; returns 1 when a required part is missing. */
export async function runCheck(config: SkiffConfig): Promise<number> {
  const checks = await checkHost(config);
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = ['CHECK'.padEnd(width) + '  STATUS  DETAIL'];
  for (const check of checks) {
    const state = check.ok ? 'ok' : check.required ? 'FAIL' : 'warn';
    lines.push(`${check.name.padEnd(width)}  ${state.padEnd(6)}  ${check.detail}`);
    if (!check.ok && check.fix) lines.push(`${''.padEnd(width)}          fix: ${check.fix}`);
  }
  const failed = checks.filter((c) => !c.ok && c.required).length;
  lines.push('', failed ? `${failed} required check(s) failed` : 'all required checks passed');
  process.stdout.write(lines.join('\n') + '\n');
  return failed ? 1 : 0;
}
