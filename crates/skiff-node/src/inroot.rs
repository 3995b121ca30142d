//! readFileInRoot / mkdirInRoot / createFileInRoot.

use napi_ffi::{spawn_promise, CallContext, JsResult, Value};

/// readFileInRoot(root, path, maxBytes): Promise<Buffer | undefined>
pub fn read_file_in_root(cx: &CallContext) -> JsResult<Value> {
    let args = cx.args();
    let root = args.path(cx.arg(0), "root")?;
    let path = args.path(cx.arg(1), "path")?;
    let max_bytes = args.safe_integer(cx.arg(2), "maxBytes")?;
    spawn_promise(
        cx.env(),
        "readFileInRoot",
        move || inroot::read_file_in_root(&root, &path, max_bytes),
        |env, contents| match contents {
            Some(bytes) => env.buffer_copy(&bytes),
            None => env.undefined(),
        },
    )
}

/// mkdirInRoot(root, path, mode = 0o755): Promise<string>
pub fn mkdir_in_root(cx: &CallContext) -> JsResult<Value> {
    let args = cx.args();
    let root = args.path(cx.arg(0), "root")?;
    let path = args.path(cx.arg(1), "path")?;
    let mode = args.optional_mode(cx.arg(2), "mode")?.unwrap_or(0o755);
    spawn_promise(
        cx.env(),
        "mkdirInRoot",
        move || inroot::mkdir_in_root(&root, &path, mode),
        |env, host_path| env.string(&host_path.to_string_lossy()),
    )
}

/// createFileInRoot(root, path, dirMode = 0o755, fileMode = 0o600): Promise<string>
pub fn create_file_in_root(cx: &CallContext) -> JsResult<Value> {
    let args = cx.args();
    let root = args.path(cx.arg(0), "root")?;
    let path = args.path(cx.arg(1), "path")?;
    let dir_mode = args.optional_mode(cx.arg(2), "dirMode")?.unwrap_or(0o755);
    let file_mode = args.optional_mode(cx.arg(3), "fileMode")?.unwrap_or(0o600);
    spawn_promise(
        cx.env(),
        "createFileInRoot",
        move || inroot::create_file_in_root(&root, &path, dir_mode, file_mode),
        |env, host_path| env.string(&host_path.to_string_lossy()),
    )
}
