//! `JsThread`: a way back onto the JS thread from any other thread, built on
//! a Node-API threadsafe function with no JS callback. Each call carries a
//! boxed Rust closure that node runs on its main thread with a live `Env`.

use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::env::Env;
use crate::error::{panic_message, JsError, JsResult};
use crate::sys::{self, napi_env, napi_status, napi_threadsafe_function, napi_value};

type Job = Box<dyn FnOnce(Env) + Send>;

/// Whether node still has the threadsafe function. Node destroys it when
/// its environment is torn down (process exit) even while threads hold it;
/// its finalizer flips this under the lock, and every use of the handle
/// happens under the same lock after checking it, so nothing touches freed
/// memory at exit.
type Alive = Arc<Mutex<bool>>;

fn lock(alive: &Alive) -> MutexGuard<'_, bool> {
    alive.lock().unwrap_or_else(|e| e.into_inner())
}

/// While any `JsThread` is alive the event loop stays alive (unless told
/// otherwise with `keep_alive`), so a pending promise keeps node running
/// until it settles.
pub struct JsThread {
    tsfn: napi_threadsafe_function,
    alive: Alive,
}

// Node-API threadsafe functions are made to be called and released from
// any thread. Each JsThread owns one acquisition, released on drop.
unsafe impl Send for JsThread {}

unsafe extern "C" fn finalized(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // The Box made in `new`; node calls this once, as it destroys the tsfn.
    let alive = Box::from_raw(data as *mut Alive);
    *lock(&alive) = false;
}

impl JsThread {
    /// `name` labels the async resource (visible in async_hooks).
    pub fn new(env: Env, name: &str) -> JsResult<JsThread> {
        let resource_name = env.string(name)?.raw();
        let alive: Alive = Arc::new(Mutex::new(true));
        let finalize_data = Box::into_raw(Box::new(alive.clone()));
        let mut tsfn = ptr::null_mut();
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env.raw(),
                ptr::null_mut(),
                ptr::null_mut(),
                resource_name,
                0, // unbounded queue: calls never block
                1, // this handle's acquisition
                finalize_data as *mut c_void,
                Some(finalized),
                ptr::null_mut(),
                Some(dispatch),
                &mut tsfn,
            )
        };
        if let Err(err) = env.check(status, "napi_create_threadsafe_function") {
            drop(unsafe { Box::from_raw(finalize_data) });
            return Err(err);
        }
        Ok(JsThread { tsfn, alive })
    }

    /// Queues `job` to run on the JS thread. Fails (dropping the job here)
    /// once node is shutting down.
    pub fn call(&self, job: impl FnOnce(Env) + Send + 'static) -> Result<(), napi_status> {
        let job: Box<Job> = Box::new(Box::new(job));
        let data = Box::into_raw(job);
        let alive = lock(&self.alive);
        let status = if *alive {
            unsafe {
                sys::napi_call_threadsafe_function(
                    self.tsfn,
                    data as *mut c_void,
                    sys::napi_tsfn_blocking,
                )
            }
        } else {
            sys::napi_closing
        };
        drop(alive);
        if status != sys::napi_ok {
            drop(unsafe { Box::from_raw(data) });
            return Err(status);
        }
        Ok(())
    }

    /// Whether the queue keeps node's event loop alive (it does when
    /// created). A long-lived JsThread is let go while nothing awaits it,
    /// so an idle one never holds the process open. JS thread only.
    pub fn keep_alive(&self, env: Env, keep: bool) -> JsResult<()> {
        let alive = lock(&self.alive);
        if !*alive {
            return Ok(());
        }
        let status = unsafe {
            if keep {
                sys::napi_ref_threadsafe_function(env.raw(), self.tsfn)
            } else {
                sys::napi_unref_threadsafe_function(env.raw(), self.tsfn)
            }
        };
        env.check(status, "napi_ref_threadsafe_function")
    }

    /// Another handle to the same queue, e.g. for a second producer thread.
    pub fn try_clone(&self) -> Result<JsThread, napi_status> {
        let alive = lock(&self.alive);
        if !*alive {
            return Err(sys::napi_closing);
        }
        let status = unsafe { sys::napi_acquire_threadsafe_function(self.tsfn) };
        if status != sys::napi_ok {
            return Err(status);
        }
        Ok(JsThread {
            tsfn: self.tsfn,
            alive: self.alive.clone(),
        })
    }
}

impl Drop for JsThread {
    fn drop(&mut self) {
        let alive = lock(&self.alive);
        if *alive {
            unsafe { sys::napi_release_threadsafe_function(self.tsfn, sys::napi_tsfn_release) };
        }
    }
}

unsafe extern "C" fn dispatch(
    env: napi_env,
    _js_callback: napi_value,
    _context: *mut c_void,
    data: *mut c_void,
) {
    let job = Box::from_raw(data as *mut Job);
    if env.is_null() {
        // The queue is being torn down with node; nothing can run.
        return;
    }
    let env = Env::from_raw(env);
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || job(env))) {
        // Nobody awaits a job's own failure: surface it as an uncaught
        // exception rather than losing it.
        JsError::Panic(panic_message(&*payload)).throw(env);
    }
}
