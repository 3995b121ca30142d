//! lockFile.

use std::os::unix::io::IntoRawFd;

use napi_ffi::{spawn_promise, CallContext, JsResult, Value};

/// lockFile(path): Promise<number>. Resolves with the fd holding the lock;
/// it stays open (and locked) until the process exits or JS closes it.
/// Rejects with code EWOULDBLOCK when another process holds the lock.
pub fn lock_file(cx: &CallContext) -> JsResult<Value> {
    let path = cx.args().path(cx.arg(0), "path")?;
    spawn_promise(
        cx.env(),
        "lockFile",
        // Released to a raw fd on the worker: from here on JS owns it.
        move || proclock::lock_exclusive(&path).map(IntoRawFd::into_raw_fd),
        |env, fd| env.double(f64::from(fd)),
    )
}
