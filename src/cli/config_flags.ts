import { Option, type Command } from 'commander';
import { loadConfig, systemConfigFile, systemDropInDir, type FlagSetting } from '../config/load.js';
import { sectionSpecs, topLevelSpec, type KeySpec, type SkiffConfig } from '../config/schema.js';

/** Every config key's flag, generated from the schema so none can be forgotten. */
export function addConfigOptions(command: Command): Command {
  command
    .option('--config <file>', `extra config file applied after ${systemConfigFile} and the drop-ins`)
    .option('--config-dir <dir>', 'drop-in directory of *.toml files', systemDropInDir)
    .option('--system-config <file>', 'main config file; "" to skip it', systemConfigFile)
    .addOption(new Option('--runtime <NAME.KEY=VALUE>', 'set a key of a [runtimes.NAME] handler table (repeatable)').argParser(collect));
  for (const spec of allKeySpecs()) {
    if (!spec.flag) continue;
    const placeholder = spec.kind.type === 'integer' ? '<n>' : spec.kind.type === 'boolean' ? '[bool]' : '<value>';
    const option = new Option(`--${spec.flag} ${placeholder}`, spec.doc + (spec.repeatable ? ' (repeatable)' : ''));
    if (spec.repeatable) option.argParser(collect);
    if (spec.kind.type === 'enum') option.choices(spec.kind.values);
    command.addOption(option);
  }
  return command;
}

/** Loads the effective configuration for a command that had `addConfigOptions`. */
export async function configFromOptions(command: Command): Promise<SkiffConfig> {
  const opts = command.opts<Record<string, unknown>>();
  const flags: FlagSetting[] = [];
  for (const flag of ['runtime', ...allKeySpecs().flatMap((s) => (s.flag ? [s.flag] : []))]) {
    const value = opts[camel(flag)];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) flags.push({ flag, value: v as string | boolean });
  }
  return loadConfig({
    systemFile: opts.systemConfig as string,
    dropInDir: opts.configDir as string,
    extraFile: opts.config as string | undefined,
    flags,
  });
}

function allKeySpecs(): KeySpec[] {
  return [...Object.values(topLevelSpec), ...Object.values(sectionSpecs).flatMap((s) => Object.values(s.keys))];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
