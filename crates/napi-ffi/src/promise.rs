//! Promises settled by work on a dedicated thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use sys_error::SysError;

use crate::env::{Env, Value};
use crate::error::{panic_message, JsError, JsResult};
use crate::js_thread::JsThread;
use crate::sys::{self, napi_deferred, napi_status};

/// The settle half of a JS promise. Send so it can ride along with work to
/// another thread, but it can only be used with an `Env`, i.e. back on the
/// JS thread.
pub struct Deferred {
    raw: napi_deferred,
}

unsafe impl Send for Deferred {}

impl Deferred {
    pub fn new(env: Env) -> JsResult<(Deferred, Value)> {
        let mut raw = ptr::null_mut();
        let mut promise = ptr::null_mut();
        let status = unsafe { sys::napi_create_promise(env.raw(), &mut raw, &mut promise) };
        env.check(status, "napi_create_promise")?;
        // A handle node just created for us.
        Ok((Deferred { raw }, unsafe { Value::from_raw(promise) }))
    }

    pub fn resolve(self, env: Env, value: Value) -> JsResult<()> {
        let status = unsafe { sys::napi_resolve_deferred(env.raw(), self.raw, value.raw()) };
        env.check(status, "napi_resolve_deferred")
    }

    pub fn reject(self, env: Env, value: Value) -> JsResult<()> {
        let status = unsafe { sys::napi_reject_deferred(env.raw(), self.raw, value.raw()) };
        env.check(status, "napi_reject_deferred")
    }

    /// Resolves with the value or rejects with the error's JS form.
    pub fn settle(self, env: Env, result: JsResult<Value>) {
        let _ = match result {
            Ok(value) => self.resolve(env, value),
            Err(err) => match err.into_value(env).or_else(|| env.undefined().ok()) {
                Some(reason) => self.reject(env, reason),
                None => Ok(()),
            },
        };
    }
}

/// A promise already resolved with the value or rejected with the error.
pub fn settled_promise(env: Env, result: JsResult<Value>) -> JsResult<Value> {
    let (deferred, promise) = Deferred::new(env)?;
    deferred.settle(env, result);
    Ok(promise)
}

/// One JS thread's way back from every worker: one threadsafe function
/// shared by all work, not one per call (each has a uv_async handle of its
/// own, which node checks on every wake-up, and making one costs more than
/// the thread the work runs on). It holds the event loop while any work
/// that holds it is unfinished. To async_hooks all of it is one resource,
/// "skiff"; spawn_promise's name names the work's thread.
struct Queue {
    js: JsThread,
    holding: usize,
}

thread_local! {
    static QUEUE: std::cell::RefCell<Option<Queue>> = std::cell::RefCell::new(None);
}

/// The way back to the JS thread for one piece of work, through that
/// thread's shared queue. Made on the JS thread; sent with the work.
pub struct Completion {
    js: Option<JsThread>,
    holds: bool,
}

impl Completion {
    /// `holds`: node's event loop stays alive until this completes (or is dropped).
    pub fn new(env: Env, holds: bool) -> JsResult<Completion> {
        QUEUE.with(|cell| {
            if cell.borrow().is_none() {
                // Made outside the borrow: making it runs async_hooks' init, which may run JS.
                let js = JsThread::new(env, "skiff")?;
                js.keep_alive(env, false)?;
                cell.borrow_mut().get_or_insert(Queue { js, holding: 0 });
            }
            let mut slot = cell.borrow_mut();
            let queue = slot.as_mut().expect("made above");
            let js = queue.js.try_clone().map_err(|status| JsError::Napi {
                call: "napi_acquire_threadsafe_function",
                status,
                message: "node is shutting down".to_string(),
            })?;
            if holds {
                if queue.holding == 0 {
                    queue.js.keep_alive(env, true)?;
                }
                queue.holding += 1;
            }
            Ok(Completion { js: Some(js), holds })
        })
    }

    /// Runs `job` on the JS thread. Fails (dropping the job here) once node
    /// is shutting down.
    pub fn complete(mut self, job: impl FnOnce(Env) + Send + 'static) -> Result<(), napi_status> {
        let holds = self.holds;
        let js = self.js.take().expect("completed once");
        js.call(move |env| {
            if holds {
                let_go(env);
            }
            job(env);
        })
    }
}

impl Drop for Completion {
    /// Never completed (its work was dropped): the hold goes all the same.
    fn drop(&mut self) {
        if let Some(js) = self.js.take() {
            if self.holds {
                let _ = js.call(let_go);
            }
        }
    }
}

/// One hold fewer (JS thread only); the last lets the event loop go.
fn let_go(env: Env) {
    QUEUE.with(|cell| {
        if let Some(queue) = cell.borrow_mut().as_mut() {
            queue.holding = queue.holding.saturating_sub(1);
            if queue.holding == 0 {
                let _ = queue.js.keep_alive(env, false);
            }
        }
    });
}

/// Runs `work` on a new thread and returns a promise for its outcome:
/// `to_js` converts a success on the JS thread; a SysError rejects with a
/// Node-style system error; a panic rejects with ERR_NATIVE_PANIC.
///
/// A thread per call, not the libuv pool: mounts and tree walks can take
/// long enough to starve node's four pool threads, and some work changes
/// per-thread kernel state that must not leak into a pooled thread.
pub fn spawn_promise<T, W, C>(env: Env, name: &str, work: W, to_js: C) -> JsResult<Value>
where
    T: Send + 'static,
    W: FnOnce() -> Result<T, SysError> + Send + 'static,
    C: FnOnce(Env, T) -> JsResult<Value> + Send + 'static,
{
    let done = Completion::new(env, true)?;
    let (deferred, promise) = Deferred::new(env)?;
    // Kept to reject the promise here if the thread never starts (the
    // closure, and the Deferred in it, is then dropped unrun).
    let raw_deferred = deferred.raw;

    let worker = move || {
        let result = match catch_unwind(AssertUnwindSafe(work)) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(JsError::Sys(err)),
            Err(payload) => Err(JsError::Panic(panic_message(&*payload))),
        };
        // A refused call means node is exiting and nobody awaits the result.
        let _ = done.complete(move |env| {
            let value = result.and_then(|value| {
                catch_unwind(AssertUnwindSafe(|| to_js(env, value)))
                    .unwrap_or_else(|payload| Err(JsError::Panic(panic_message(&*payload))))
            });
            deferred.settle(env, value);
        });
    };
    let spawned = std::thread::Builder::new()
        .name(format!("skiff:{}", name))
        .spawn(worker);
    if let Err(err) = spawned {
        let errno = err.raw_os_error().unwrap_or(libc::EAGAIN);
        let deferred = Deferred { raw: raw_deferred };
        deferred.settle(
            env,
            Err(JsError::Sys(SysError::new(errno, "pthread_create"))),
        );
    }
    Ok(promise)
}
