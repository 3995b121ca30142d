// The parts of an image's config JSON (OCI image-spec config.md, Docker's
// image JSON) that decide how a container runs. Image content is untrusted:
// each field is type-checked and a wrong type is an error naming it.

import { unsatisfiable } from './errors.js';

export interface ImageRuntimeConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
  stopSignal: string;
}

const field = (name: string): string => `image config ${name}`;

/** Reads the `config` object of an image config (older Docker images spell it `Config`). */
export function imageRuntimeConfig(imageConfig: Record<string, unknown>): ImageRuntimeConfig {
  const raw = imageConfig['config'] ?? imageConfig['Config'] ?? {};
  const config: Record<string, unknown> = isRecord(raw) ? raw : {};
  return {
    env: stringList(config['Env'], 'Env'),
    entrypoint: stringList(config['Entrypoint'], 'Entrypoint'),
    cmd: stringList(config['Cmd'], 'Cmd'),
    workingDir: optionalString(config['WorkingDir'], 'WorkingDir'),
    user: optionalString(config['User'], 'User'),
    stopSignal: optionalString(config['StopSignal'], 'StopSignal'),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, name: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw unsatisfiable(field(name), 'must be a list of strings');
  }
  return v as string[];
}

function optionalString(v: unknown, name: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw unsatisfiable(field(name), 'must be a string');
  return v;
}
