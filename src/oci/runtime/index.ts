// The OCI runtime driver: containers under conmon, runtime commands, exits,
// CRI logs.

export {
  OciRuntime,
  isLiveProcess,
  type CgroupManager,
  type ContainerExit,
  type ContainerFiles,
  type ContainerStatus,
  type CreateContainerOptions,
  type CreatedContainer,
  type OciRuntimeOptions,
  type RuntimeState,
} from './oci_runtime.js';
export { ExitWatcher, parseExitStatus, readExitFile, type ExitStatus } from './exit_watcher.js';
export { RuntimeError, isRuntimeError, runtimeMessage, type RuntimeErrorKind } from './errors.js';
export { assembleLines, parseCriLog, parseCriLogLine, readCriLog, type CriLogEntry, type LogLine, type LogStream, type ParsedCriLog } from './cri_log.js';
export { attachSocketPath, conmonCreateArgs, conmonPipeEnvironment, runtimeEnvironment, type ConmonCreateInput } from './conmon_args.js';
export { parseSyncMessage, type SyncMessage } from './sync_pipe.js';
