import { stringify } from 'smol-toml';
import { runtimeHandlerSpec, sectionSpecs, topLevelSpec, type KeySpec, type SkiffConfig } from './schema.js';

/** The configuration as commented TOML that `loadConfig` accepts back unchanged. */
export function renderConfig(config: SkiffConfig): string {
  const lines: string[] = [
    '# skiff configuration.',
    '# Applied in order, later wins: built-in defaults, /etc/skiff/skiff.toml,',
    '# /etc/skiff/skiff.d/*.toml (lexical order), --config FILE, command-line flags.',
    '',
  ];
  const top = config as unknown as Record<string, unknown>;
  for (const [key, spec] of Object.entries(topLevelSpec)) pushKey(lines, key, spec, top[key]);

  for (const [name, section] of Object.entries(sectionSpecs)) {
    lines.push('', `# ${section.doc}`, `[${name}]`);
    const values = config[name as keyof typeof sectionSpecs] as unknown as Record<string, unknown>;
    for (const [key, spec] of Object.entries(section.keys)) pushKey(lines, key, spec, values[key]);
  }

  for (const [name, handler] of Object.entries(config.runtimes)) {
    lines.push('', `# Runtime handler "${name}": pods select it with runtime_handler = "${name}".`, `[runtimes.${tomlKey(name)}]`);
    const values = handler as unknown as Record<string, unknown>;
    for (const [key, spec] of Object.entries(runtimeHandlerSpec)) pushKey(lines, key, spec, values[key], '--runtime NAME.KEY=VALUE');
  }
  return lines.join('\n') + '\n';
}

function pushKey(lines: string[], key: string, spec: KeySpec, value: unknown, flagHint?: string): void {
  const flag = spec.flag ? `--${spec.flag}${spec.repeatable ? ' (repeatable)' : ''}` : flagHint;
  lines.push(`# ${spec.doc}${flag ? ` Flag: ${flag}.` : ''}`);
  lines.push(stringify({ [key]: value }).trimEnd());
}

function tomlKey(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}
