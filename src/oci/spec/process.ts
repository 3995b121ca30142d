// The container's first process: argv, environment and working directory,
// merged from the image config and the CRI ContainerConfig the way Docker and
// every CRI runtime do.

import type { KeyValue } from '../../proto/cri.js';
import { absolutePath, invalidField, quote, unsatisfiable } from './errors.js';
import type { ImageRuntimeConfig } from './image_config.js';

export const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * CRI `command` replaces the image Entrypoint and CRI `args` replace Cmd; with
 * only args the Entrypoint stays. An empty result is an error.
 */
export function processArgs(command: string[], args: string[], image: ImageRuntimeConfig): string[] {
  args.forEach((a, i) => checkArg(`config.args[${i}]`, a));
  command.forEach((a, i) => checkArg(`config.command[${i}]`, a));
  let argv: string[];
  let from: 'config' | 'image';
  if (command.length > 0) {
    argv = [...command, ...args];
    from = 'config';
  } else if (args.length > 0) {
    argv = [...image.entrypoint, ...args];
    from = image.entrypoint.length > 0 ? 'image' : 'config';
  } else {
    argv = [...image.entrypoint, ...image.cmd];
    from = 'image';
  }
  if (argv.length === 0) {
    throw invalidField('config.command', 'no command given and the image defines neither Entrypoint nor Cmd');
  }
  if (argv[0] === '') {
    throw from === 'config'
      ? invalidField(command.length > 0 ? 'config.command[0]' : 'config.args[0]', 'the program must not be empty')
      : unsatisfiable('image config Entrypoint/Cmd', 'the program must not be empty');
  }
  if (from === 'image') argv.forEach((a) => checkImageArg(a));
  return argv;
}

function checkArg(field: string, arg: string): void {
  if (arg.includes('\0')) throw invalidField(field, `${quote(arg)} contains a NUL byte`);
}

function checkImageArg(arg: string): void {
  if (arg.includes('\0')) throw unsatisfiable('image config Entrypoint/Cmd', `${quote(arg)} contains a NUL byte`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one CRI env value: UTF-8, no NUL. */
function envValue(field: string, value: Uint8Array | string): string {
  let text: string;
  if (typeof value === 'string') {
    text = value;
  } else {
    try {
      text = utf8.decode(value);
    } catch {
      throw invalidField(field, 'is not valid UTF-8');
    }
  }
  if (text.includes('\0')) throw invalidField(field, 'contains a NUL byte');
  return text;
}

/** An environment in first-definition order; a later definition replaces the value in place. */
export class Environment {
  private readonly vars = new Map<string, string>();

  set(name: string, value: string): void {
    this.vars.set(name, value);
  }

  setDefault(name: string, value: string): void {
    if (!this.vars.has(name)) this.vars.set(name, value);
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  toList(): string[] {
    return [...this.vars].map(([k, v]) => `${k}=${v}`);
  }
}

/**
 * The image's Env, then HOSTNAME, then the CRI envs (each replacing an
 * earlier definition of the same name); PATH gets a default when nobody sets
 * it. HOME is added later, once the user is known.
 */
export function processEnv(image: ImageRuntimeConfig, envs: KeyValue[], hostname: string): Environment {
  const env = new Environment();
  for (const entry of image.env) {
    const eq = entry.indexOf('=');
    // "NAME" alone carries no value; Docker drops it too.
    if (eq <= 0) continue;
    if (entry.includes('\0')) throw unsatisfiable('image config Env', `${quote(entry)} contains a NUL byte`);
    env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  if (hostname !== '') env.set('HOSTNAME', hostname);
  envs.forEach((kv, i) => {
    const key = kv.key;
    if (key === '') throw invalidField(`config.envs[${i}].key`, 'must not be empty');
    if (key.includes('=')) throw invalidField(`config.envs[${i}].key`, `${quote(key)} must not contain "="`);
    if (key.includes('\0')) throw invalidField(`config.envs[${i}].key`, `${quote(key)} contains a NUL byte`);
    env.set(key, envValue(`config.envs[${i}].value`, kv.value ?? new Uint8Array()));
  });
  if (!env.has('PATH')) env.set('PATH', defaultPath.slice('PATH='.length));
  return env;
}

/** CRI working_dir, else the image's WorkingDir, else "/". */
export function processCwd(workingDir: string, image: ImageRuntimeConfig): string {
  if (workingDir !== '') return absolutePath('config.working_dir', workingDir);
  if (image.workingDir === '') return '/';
  // Builders store an absolute path; be lenient with old images but never
  // let ".." climb (the runtime resolves cwd inside the rootfs anyway).
  const parts = image.workingDir.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..') || image.workingDir.includes('\0')) {
    throw unsatisfiable('image config WorkingDir', `${quote(image.workingDir)} is not a clean path`);
  }
  return `/${parts.join('/')}`;
}
