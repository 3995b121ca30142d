// What exec and attach mean independent of the wire: run the backend with the
// client's streams, and describe the outcome the way the kubelet's library
// does (a metav1.Status for v4 and later, plain text before).
import type { AttachRequest, ExecRequest } from '../proto/cri.js';
import type { SessionStreams, StreamingBackend } from './backend.js';

export type RemoteCommand = { kind: 'exec'; request: ExecRequest } | { kind: 'attach'; request: AttachRequest };

export type CommandOutcome = { kind: 'success' } | { kind: 'exit'; exitCode: number } | { kind: 'error'; message: string };

export async function runRemoteCommand(
  backend: StreamingBackend,
  command: RemoteCommand,
  streams: SessionStreams,
  signal: AbortSignal,
): Promise<CommandOutcome> {
  try {
    if (command.kind === 'exec') {
      const { exitCode } = await backend.exec(command.request.containerId, command.request.cmd, streams, signal);
      return exitCode === 0 ? { kind: 'success' } : { kind: 'exit', exitCode };
    }
    await backend.attach(command.request.containerId, streams, signal);
    return { kind: 'success' };
  } catch (err) {
    const what = command.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
    return { kind: 'error', message: `${what}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The v4 error-stream document; field order and empty metadata follow metav1.Status's JSON. */
export function statusDocument(outcome: CommandOutcome): string {
  switch (outcome.kind) {
    case 'success':
      return JSON.stringify({ metadata: {}, status: 'Success' });
    case 'exit':
      return JSON.stringify({
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: exit status ${outcome.exitCode}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
      });
    case 'error':
      return JSON.stringify({
        metadata: {},
        status: 'Failure',
        message: `Internal error occurred: ${outcome.message}`,
        reason: 'InternalError',
        details: { causes: [{ message: outcome.message }] },
        code: 500,
      });
  }
}

/** Protocols before v4 carry only a failure's message, and nothing on success. */
export function statusText(outcome: CommandOutcome): string | undefined {
  switch (outcome.kind) {
    case 'success':
      return undefined;
    case 'exit':
      return `command terminated with non-zero exit code: exit status ${outcome.exitCode}`;
    case 'error':
      return `Internal error occurred: ${outcome.message}`;
  }
}
