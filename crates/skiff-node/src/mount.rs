//! overlayMount / overlayUnmount.

use napi_ffi::{spawn_promise, CallContext, JsError, JsResult, Value};
use overlay::{MountApi, OverlayConfig, UnmountOptions};

/// overlayMount({ lowerdirs: string[] (topmost first), upperdir?, workdir?,
///   target, readonly?, options?: string[], mountApi?: "auto"|"new"|"legacy",
///   makeDirs?: boolean (upperdir, workdir and target made 0755 when missing) })
pub fn overlay_mount(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let spec = cx.arg(0);
    args.object(spec, "options")?;
    let field = |key: &str| env.get_named(spec, key);

    let lowerdirs = args.array(field("lowerdirs")?, "options.lowerdirs", |v, name| {
        args.path(v, name)
    })?;
    if lowerdirs.is_empty() {
        return Err(JsError::invalid_value(
            "The \"options.lowerdirs\" argument must contain at least one directory",
        ));
    }
    let cfg = OverlayConfig {
        lowerdirs,
        upperdir: args.optional_path(field("upperdir")?, "options.upperdir")?,
        workdir: args.optional_path(field("workdir")?, "options.workdir")?,
        target: args.path(field("target")?, "options.target")?,
        readonly: args
            .optional_bool(field("readonly")?, "options.readonly")?
            .unwrap_or(false),
        options: args
            .optional_array(field("options")?, "options.options", |v, name| {
                args.string(v, name)
            })?
            .unwrap_or_default(),
    };
    let api = match args
        .optional_string(field("mountApi")?, "options.mountApi")?
        .as_deref()
    {
        None | Some("auto") => MountApi::Auto,
        Some("new") => MountApi::New,
        Some("legacy") => MountApi::Legacy,
        Some(other) => {
            return Err(JsError::invalid_value(format!(
                "The \"options.mountApi\" argument must be one of 'auto', 'new', 'legacy'. Received '{}'",
                other
            )))
        }
    };
    // Shape errors belong to the caller now, not to a rejected promise.
    if let Err(err) = cfg.validate() {
        let what = err.detail.clone().unwrap_or_else(|| err.to_string());
        let message = match err.path {
            Some(path) => format!(
                "Invalid overlay options: {} (got '{}')",
                what,
                path.display()
            ),
            None => format!("Invalid overlay options: {}", what),
        };
        return Err(JsError::invalid_value(message));
    }

    let make_dirs = args
        .optional_bool(field("makeDirs")?, "options.makeDirs")?
        .unwrap_or(false);

    spawn_promise(
        env,
        "overlayMount",
        move || {
            if make_dirs {
                overlay::make_dirs(&cfg, 0o755)?;
            }
            overlay::mount(&cfg, api)
        },
        |env, ()| env.undefined(),
    )
}

/// overlayUnmount(target, { detach?: boolean }?)
pub fn overlay_unmount(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let target = args.path(cx.arg(0), "target")?;
    let mut opts = UnmountOptions::default();
    if args.optional_object(cx.arg(1), "options")? {
        let detach = env.get_named(cx.arg(1), "detach")?;
        opts.detach = args
            .optional_bool(detach, "options.detach")?
            .unwrap_or(false);
    }
    spawn_promise(
        env,
        "overlayUnmount",
        move || overlay::unmount(&target, opts),
        |env, ()| env.undefined(),
    )
}
