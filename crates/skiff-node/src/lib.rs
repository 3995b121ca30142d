//! skiff's Node-API addon: a thin layer that validates JS arguments, runs
//! the pure crates' work on its own thread and settles a promise with the
//! result. Nothing here knows about mounts or trees beyond argument shapes.
//!
//! JS API (all but addonVersion return promises):
//!   overlayMount({ lowerdirs, upperdir?, workdir?, target, readonly?,
//!                  options?, mountApi? }): Promise<void>
//!   overlayUnmount(target, { detach? }?): Promise<void>
//!   dirUsage(path): Promise<{ bytes, inodes }>
//!   lockFile(path): Promise<number>
//!   createLayerWriter({ dir, compression, expectedDigest?, expectedDiffId?,
//!                       maxUncompressedBytes?, sync? }): LayerWriter
//!     LayerWriter.write(chunk): Promise<void>   (pending = backpressure)
//!     LayerWriter.finish(): Promise<{ digest, diffId, compressedSize,
//!                                     uncompressedSize, entries }>
//!     LayerWriter.abort(): Promise<void>
//!   removeTree(path): Promise<void>
//!   pinNamespaces({ dir, kinds: ('net'|'ipc'|'uts')[], hostname?,
//!                   sysctls?: Record<string, string> })
//!     : Promise<{ net?, ipc?, uts? }>
//!   unpinNamespaces(paths): Promise<void>
//!   isNamespacePinned(path): Promise<boolean>
//!   writeWholeFile(path, data: string | Buffer | Uint8Array,
//!                  { mode?, replace?, durable?, parentMode? }?): Promise<void>
//!   readFileInRoot(root, path, maxBytes): Promise<Buffer | undefined>
//!   mkdirInRoot(root, path, mode?): Promise<string>
//!   createFileInRoot(root, path, dirMode?, fileMode?): Promise<string>
//!   openPty(): Promise<{ master, slave }>
//!   setTerminalSize(fd, columns, rows): void
//!   connectSeqpacket(path): Promise<number>
//!   bridgeFd(fd, 'bytes' | 'packets'): number
//!   dialLoopback({ netns?, port, timeoutMs? }): Promise<number>
//!   captureOutput(count, maxBytes): { fds, cancelFd, done: Promise<{ outputs, dropped }> }
//!   spawnChild({ file, args, env, cwd?, stdio: ('null'|'pipe'|'start'|fd)[],
//!                newSession? })
//!     : Promise<{ pid, fds: (number|null)[],
//!                 exited: Promise<{ code, signal }> }>
//!   runProgram({ file, args, env, cwd?, input?: Buffer | Uint8Array | string,
//!                timeoutMs, maxOutput, newSession? })
//!     : Promise<{ code, signal, stdout: Buffer, stderr: Buffer, dropped,
//!                 stdoutDropped, stderrDropped, timedOut }>
//!   addonVersion(): string
//! Failures reject with Errors carrying code, errno, syscall and path like
//! Node's own; bad arguments throw TypeErrors synchronously. Layer errors
//! carry ERR_LAYER_* codes and the offending tar `entry`.

mod file;
mod inroot;
mod layer;
mod lock;
mod mount;
mod namespaces;
mod spawn;
mod stdio;
mod usage;

use napi_ffi::sys::{napi_env, napi_value};
use napi_ffi::{register_module, CallContext, Exports, JsResult, Value};

/// Entry point node looks up after dlopen.
///
/// # Safety
/// Called by node with a valid env and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_env, exports: napi_value) -> napi_value {
    register_module(env, exports, init)
}

fn init(exports: &Exports) -> JsResult<()> {
    exports.function("overlayMount", mount::overlay_mount)?;
    exports.function("overlayUnmount", mount::overlay_unmount)?;
    exports.function("dirUsage", usage::dir_usage)?;
    exports.function("lockFile", lock::lock_file)?;
    exports.function("createLayerWriter", layer::create_layer_writer)?;
    exports.function("removeTree", layer::remove_tree)?;
    exports.function("pinNamespaces", namespaces::pin_namespaces)?;
    exports.function("unpinNamespaces", namespaces::unpin_namespaces)?;
    exports.function("isNamespacePinned", namespaces::is_namespace_pinned)?;
    exports.function("writeWholeFile", file::write_whole_file)?;
    exports.function("readFileInRoot", inroot::read_file_in_root)?;
    exports.function("mkdirInRoot", inroot::mkdir_in_root)?;
    exports.function("createFileInRoot", inroot::create_file_in_root)?;
    exports.function("openPty", stdio::open_pty)?;
    exports.function("setTerminalSize", stdio::set_terminal_size)?;
    exports.function("connectSeqpacket", stdio::connect_seqpacket)?;
    exports.function("bridgeFd", stdio::bridge_fd)?;
    exports.function("dialLoopback", stdio::dial_loopback)?;
    exports.function("captureOutput", stdio::capture_output)?;
    exports.function("spawnChild", spawn::spawn_child)?;
    exports.function("runProgram", spawn::run_program)?;
    exports.function("addonVersion", addon_version)?;
    Ok(())
}

fn addon_version(cx: &CallContext) -> JsResult<Value> {
    cx.env().string(env!("CARGO_PKG_VERSION"))
}
