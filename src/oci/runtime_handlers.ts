import { join } from 'node:path';
import type { RuntimeHandlerConfig, SkiffConfig } from '../config/schema.js';
import { findExecutable } from '../host/executables.js';

/** A runtime handler with its defaults filled in and its binaries located. */
export interface ResolvedRuntimeHandler {
  name: string;
  /** Undefined when the runtime binary cannot be found. */
  runtimePath: string | undefined;
  runtimeRoot: string;
  monitorPath: string | undefined;
  config: RuntimeHandlerConfig;
}

export async function resolveRuntimeHandler(config: SkiffConfig, name: string): Promise<ResolvedRuntimeHandler | undefined> {
  const handler = config.runtimes[name];
  if (!handler) return undefined;
  const [runtimePath, monitorPath] = await Promise.all([
    findExecutable(handler.runtime_path || name),
    findExecutable(handler.monitor_path || 'conmon'),
  ]);
  return {
    name,
    runtimePath,
    runtimeRoot: handler.runtime_root || join(config.runroot, 'runtimes', name),
    monitorPath,
    config: handler,
  };
}

/** Why a handler cannot run containers, or undefined when it can. */
export function handlerProblem(handler: ResolvedRuntimeHandler): string | undefined {
  if (!handler.runtimePath) {
    return `runtime "${handler.name}": binary ${handler.config.runtime_path || `"${handler.name}" in PATH`} not found or not executable`;
  }
  if (!handler.monitorPath) {
    return `runtime "${handler.name}": monitor ${handler.config.monitor_path || '"conmon" in PATH'} not found or not executable`;
  }
  return undefined;
}
