//! writeWholeFile.

use napi_ffi::{spawn_promise, CallContext, JsResult, ValueType};

/// writeWholeFile(path, data: string | Buffer | Uint8Array,
///                { mode = 0o600, replace = false, durable = false, parentMode? }): Promise<void>
pub fn write_whole_file(cx: &CallContext) -> JsResult<napi_ffi::Value> {
    let env = cx.env();
    let args = cx.args();
    let path = args.path(cx.arg(0), "path")?;
    let value = cx.arg(1);
    let data = if env.type_of(value)? == ValueType::String { env.get_string(value)?.into_bytes() } else { args.bytes(value, "data")? };
    let options = cx.arg(2);
    let present = args.optional_object(options, "options")?;
    let field = |key: &str| env.get_named(options, key);
    let mode = |key: &str, name: &str| -> JsResult<Option<u32>> { if present { args.optional_mode(field(key)?, name) } else { Ok(None) } };
    let flag = |key: &str, name: &str| -> JsResult<bool> { Ok(present && args.optional_bool(field(key)?, name)?.unwrap_or(false)) };
    let opts = filewrite::WriteOptions {
        mode: mode("mode", "options.mode")?.unwrap_or(0o600),
        replace: flag("replace", "options.replace")?,
        durable: flag("durable", "options.durable")?,
        parent_mode: mode("parentMode", "options.parentMode")?,
    };
    spawn_promise(env, "writeWholeFile", move || filewrite::write_file(&path, &data, &opts), |env, ()| env.undefined())
}
