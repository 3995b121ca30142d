//! dirUsage.

use napi_ffi::{spawn_promise, CallContext, JsResult, Value};

/// dirUsage(path): Promise<{ bytes: number, inodes: number }>. Numbers are
/// exact up to 2^53 bytes (8 PiB), far beyond any container's tree.
pub fn dir_usage(cx: &CallContext) -> JsResult<Value> {
    let path = cx.args().path(cx.arg(0), "path")?;
    spawn_promise(
        cx.env(),
        "dirUsage",
        move || fsusage::dir_usage(&path),
        |env, usage| {
            let out = env.object()?;
            env.set_named(out, "bytes", env.double(usage.bytes as f64)?)?;
            env.set_named(out, "inodes", env.double(usage.inodes as f64)?)?;
            Ok(out)
        },
    )
}
