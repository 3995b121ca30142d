// What the exec tests share beyond test/helpers: the host check, and config
// builders for callers without a runtime fixture (the in-process runtime,
// the benches), which name the image and log directory themselves.
import * as runtime from '../helpers/runtime_daemon.js';
import { hostProblem } from '../oci_runtime/fixtures.js';

/** Why this host cannot run the exec tests, or false when it can. */
export const execProblem = (): Promise<string | false> => hostProblem();

export function podConfig(name: string, logDirectory: string, extra: Record<string, unknown> = {}): Record<string, any> {
  return runtime.podConfig({ suite: 'exec-test', logDir: logDirectory }, name, extra);
}

export function containerConfig(image: string, name: string, command: string[], extra: Record<string, unknown> = {}): Record<string, any> {
  return runtime.containerConfig({ image }, name, command, extra);
}
