//! pinNamespaces / unpinNamespaces / isNamespacePinned.

use namespaces::{Kind, PinOptions};
use napi_ffi::{spawn_promise, CallContext, JsError, JsResult, Value};

/// pinNamespaces({ dir, kinds: ('net'|'ipc'|'uts')[], hostname?,
///   sysctls?: Record<string, string> }): Promise<{ net?, ipc?, uts? }>
pub fn pin_namespaces(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let spec = cx.arg(0);
    args.object(spec, "options")?;
    let field = |key: &str| env.get_named(spec, key);
    let kinds = args.array(field("kinds")?, "options.kinds", |v, name| {
        let kind = args.string(v, name)?;
        Kind::parse(&kind).ok_or_else(|| {
            JsError::invalid_value(format!(
                "The \"{}\" argument must be one of 'net', 'ipc', 'uts'. Received '{}'",
                name, kind
            ))
        })
    })?;
    let opts = PinOptions {
        dir: args.path(field("dir")?, "options.dir")?,
        kinds,
        hostname: args.optional_string(field("hostname")?, "options.hostname")?,
        sysctls: args
            .optional_string_record(field("sysctls")?, "options.sysctls")?
            .unwrap_or_default(),
    };
    // Shape errors belong to the caller now, not to a rejected promise.
    if let Err(why) = opts.validate() {
        return Err(JsError::invalid_value(format!(
            "Invalid namespace options: {}",
            why
        )));
    }
    spawn_promise(
        env,
        "pinNamespaces",
        move || namespaces::pin(&opts),
        |env, pinned| {
            let out = env.object()?;
            for kind in Kind::ALL {
                if let Some(path) = pinned.get(kind) {
                    env.set_named(out, kind.name(), env.string(&path.to_string_lossy())?)?;
                }
            }
            Ok(out)
        },
    )
}

/// unpinNamespaces(paths: string[]): Promise<void>
pub fn unpin_namespaces(cx: &CallContext) -> JsResult<Value> {
    let args = cx.args();
    let paths = args.array(cx.arg(0), "paths", |v, name| args.path(v, name))?;
    spawn_promise(
        cx.env(),
        "unpinNamespaces",
        move || namespaces::unpin(&paths),
        |env, ()| env.undefined(),
    )
}

/// isNamespacePinned(path): Promise<boolean>
pub fn is_namespace_pinned(cx: &CallContext) -> JsResult<Value> {
    let path = cx.args().path(cx.arg(0), "path")?;
    spawn_promise(
        cx.env(),
        "isNamespacePinned",
        move || namespaces::is_pinned(&path),
        |env, pinned| env.boolean(pinned),
    )
}
