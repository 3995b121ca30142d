//! createLayerWriter / removeTree.
//!
//! A layer writer is a JS object with write/finish/abort methods wrapping a
//! `layer::LayerWriter`, whose extraction thread settles promises through a
//! `JsThread`. That thread only keeps node alive while a promise of the
//! writer is pending, so a forgotten writer never holds the process open
//! (and aborts, emptying its directory, once garbage-collected).

use std::mem;
use std::sync::{Arc, Mutex, MutexGuard};

use layer::{Compression, Digest, Events, LayerError, LayerSummary, LayerWriter, Options};
use napi_ffi::{
    settled_promise, spawn_promise, CallContext, Coded, Deferred, Env, JsError, JsResult, JsThread,
    Value,
};

/// createLayerWriter({ dir, compression: 'gzip'|'zstd'|'none', expectedDigest?,
///   expectedDiffId?, maxUncompressedBytes?, sync? }): LayerWriter
pub fn create_layer_writer(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let args = cx.args();
    let spec = cx.arg(0);
    args.object(spec, "options")?;
    let field = |key: &str| env.get_named(spec, key);
    let dir = args.path(field("dir")?, "options.dir")?;
    let compression = match args.string(field("compression")?, "options.compression")?.as_str() {
        "gzip" => Compression::Gzip,
        "zstd" => Compression::Zstd,
        "none" => Compression::None,
        other => {
            return Err(JsError::invalid_value(format!(
                "The \"options.compression\" argument must be one of 'gzip', 'zstd', 'none'. Received '{}'",
                other
            )))
        }
    };
    let digest = |key: &str| -> JsResult<Option<Digest>> {
        let name = format!("options.{}", key);
        match args.optional_string(field(key)?, &name)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|why: String| {
                JsError::invalid_value(format!("The \"{}\" argument is invalid: {}", name, why))
            }),
        }
    };
    let options = Options {
        compression,
        expected_digest: digest("expectedDigest")?,
        expected_diff_id: digest("expectedDiffId")?,
        max_uncompressed_bytes: args.optional_safe_integer(
            field("maxUncompressedBytes")?,
            "options.maxUncompressedBytes",
        )?,
        sync: args
            .optional_bool(field("sync")?, "options.sync")?
            .unwrap_or(true),
    };

    let js = JsThread::new(env, "layerWriter")?;
    js.keep_alive(env, false)?;
    let side = Arc::new(JsSide {
        state: Mutex::new(Pending {
            js,
            held: 0,
            writes: Vec::new(),
            finishes: Vec::new(),
            aborts: Vec::new(),
            outcome: None,
        }),
    });
    let writer = LayerWriter::spawn(dir, options, Arc::new(Notifier(side.clone())))?;

    let object = env.object()?;
    env.set_named(object, "write", env.function("write", write)?)?;
    env.set_named(object, "finish", env.function("finish", finish)?)?;
    env.set_named(object, "abort", env.function("abort", abort)?)?;
    env.wrap(object, Handle { writer, side })?;
    Ok(object)
}

/// What the JS object owns.
struct Handle {
    writer: LayerWriter,
    side: Arc<JsSide>,
}

/// Promises waiting on the extraction thread, shared with it.
struct JsSide {
    state: Mutex<Pending>,
}

struct Pending {
    js: JsThread,
    /// Pending promises; the JsThread keeps node alive while non-zero.
    held: usize,
    writes: Vec<Deferred>,
    finishes: Vec<Deferred>,
    aborts: Vec<Deferred>,
    /// Set once the extraction thread is done.
    outcome: Option<Result<LayerSummary, LayerError>>,
}

impl JsSide {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new pending promise (JS thread).
    fn hold(env: Env, st: &mut Pending) -> JsResult<(Deferred, Value)> {
        let (deferred, promise) = Deferred::new(env)?;
        if st.held == 0 {
            st.js.keep_alive(env, true)?;
        }
        st.held += 1;
        Ok((deferred, promise))
    }

    /// `n` pending promises were settled (JS thread).
    fn release(&self, env: Env, n: usize) {
        let mut st = self.lock();
        st.held = st.held.saturating_sub(n);
        if st.held == 0 {
            let _ = st.js.keep_alive(env, false);
        }
    }
}

/// The extraction thread's side: posts settlements to the JS thread.
struct Notifier(Arc<JsSide>);

impl Events for Notifier {
    fn drained(&self) {
        let mut st = self.0.lock();
        let writes = mem::take(&mut st.writes);
        if writes.is_empty() {
            return;
        }
        let side = self.0.clone();
        // A refused call means node is exiting: nobody awaits these.
        let _ = st.js.call(move |env| {
            let n = writes.len();
            for deferred in writes {
                deferred.settle(env, env.undefined());
            }
            side.release(env, n);
        });
    }

    fn done(&self, result: Result<LayerSummary, LayerError>) {
        let mut st = self.0.lock();
        st.outcome = Some(result.clone());
        let writes = mem::take(&mut st.writes);
        let finishes = mem::take(&mut st.finishes);
        let aborts = mem::take(&mut st.aborts);
        let n = writes.len() + finishes.len() + aborts.len();
        if n == 0 {
            return;
        }
        let side = self.0.clone();
        let _ = st.js.call(move |env| {
            for deferred in writes {
                let r = match &result {
                    Ok(_) => env.undefined(),
                    Err(e) => Err(to_js_error(e)),
                };
                deferred.settle(env, r);
            }
            for deferred in finishes {
                deferred.settle(env, outcome_value(env, &result));
            }
            for deferred in aborts {
                deferred.settle(env, env.undefined());
            }
            side.release(env, n);
        });
    }
}

/// A layer failure as a JS Error: `code` (ERR_LAYER_* or the errno name),
/// `errno`/`syscall`/`path` for system errors, `entry` naming the tar
/// entry, `expected`/`actual` for digest mismatches.
fn to_js_error(e: &LayerError) -> JsError {
    let mut props = Vec::new();
    if let Some(entry) = &e.entry {
        props.push(("entry", entry.clone()));
    }
    if let Some((expected, actual)) = &e.mismatch {
        props.push(("expected", expected.clone()));
        props.push(("actual", actual.clone()));
    }
    JsError::from(Coded {
        code: e.code(),
        message: e.message.clone(),
        sys: e.sys.clone(),
        props,
    })
}

fn outcome_value(env: Env, result: &Result<LayerSummary, LayerError>) -> JsResult<Value> {
    match result {
        Ok(s) => {
            let out = env.object()?;
            env.set_named(out, "digest", env.string(&s.digest.to_string())?)?;
            env.set_named(out, "diffId", env.string(&s.diff_id.to_string())?)?;
            env.set_named(out, "compressedSize", env.double(s.compressed_size as f64)?)?;
            env.set_named(
                out,
                "uncompressedSize",
                env.double(s.uncompressed_size as f64)?,
            )?;
            env.set_named(out, "entries", env.double(s.entries as f64)?)?;
            Ok(out)
        }
        Err(e) => Err(to_js_error(e)),
    }
}

fn illegal_invocation() -> JsError {
    JsError::invalid_type("Illegal invocation: not called on a LayerWriter")
}

/// Runs `f` on the writer the method was called on.
fn with_handle(cx: &CallContext, f: impl FnOnce(&Handle) -> JsResult<Value>) -> JsResult<Value> {
    cx.env()
        .with_wrapped(cx.this(), f)?
        .unwrap_or_else(|| Err(illegal_invocation()))
}

/// write(chunk: Buffer | Uint8Array): Promise<void>. Resolves at once while
/// the queue is below its high-water mark, otherwise when the extraction
/// thread has caught up. Rejects with the extraction's error once it failed.
fn write(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    let chunk = cx.args().bytes(cx.arg(0), "chunk")?;
    with_handle(cx, |h| {
        // Held across the write so a `drained` cannot slip in between the
        // writer saying "wait" and the promise being recorded.
        let mut st = h.side.lock();
        match h.writer.write(chunk) {
            Ok(true) => settled_promise(env, env.undefined()),
            Ok(false) => {
                let (deferred, promise) = JsSide::hold(env, &mut st)?;
                st.writes.push(deferred);
                Ok(promise)
            }
            Err(e) => settled_promise(env, Err(to_js_error(&e))),
        }
    })
}

/// finish(): Promise<LayerResult>. Ends the input; settles once the layer is
/// extracted, verified and synced (or failed and emptied).
fn finish(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    with_handle(cx, |h| {
        let mut st = h.side.lock();
        if let Some(outcome) = &st.outcome {
            return settled_promise(env, outcome_value(env, outcome));
        }
        h.writer.finish();
        let (deferred, promise) = JsSide::hold(env, &mut st)?;
        st.finishes.push(deferred);
        Ok(promise)
    })
}

/// abort(): Promise<void>. Stops the extraction and empties the layer
/// directory; resolves once that is done. After the writer already ended
/// (finished or failed) it resolves at once and changes nothing.
fn abort(cx: &CallContext) -> JsResult<Value> {
    let env = cx.env();
    with_handle(cx, |h| {
        let mut st = h.side.lock();
        if st.outcome.is_some() {
            return settled_promise(env, env.undefined());
        }
        h.writer.abort();
        let (deferred, promise) = JsSide::hold(env, &mut st)?;
        st.aborts.push(deferred);
        Ok(promise)
    })
}

/// removeTree(path): Promise<void>. Deletes `path` recursively without
/// following symlinks; refuses (EXDEV) to cross into a mount point.
pub fn remove_tree(cx: &CallContext) -> JsResult<Value> {
    let path = cx.args().path(cx.arg(0), "path")?;
    spawn_promise(
        cx.env(),
        "removeTree",
        move || layer::remove_tree(&path),
        |env, ()| env.undefined(),
    )
}
