//! `JsThread`: a way back onto the JS thread from any other thread, built on
//! a Node-API threadsafe function with no JS callback. Each call carries a
//! boxed Rust closure that node runs on its main thread with a live `Env`.

use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::env::Env;
use crate::error::{panic_message, JsError, JsResult};
use crate::sys::{self, napi_env, napi_status, napi_threadsafe_function, napi_value};

type Job = Box<dyn FnOnce(Env) + Send>;

/// While any `JsThread` is alive the event loop stays alive, so a pending
/// promise keeps node running until it settles.
pub struct JsThread {
    tsfn: napi_threadsafe_function,
}

// Node-API threadsafe functions are made to be called and released from
// any thread. Each JsThread owns one acquisition, released on drop.
unsafe impl Send for JsThread {}

impl JsThread {
    /// `name` labels the async resource (visible in async_hooks).
    pub fn new(env: Env, name: &str) -> JsResult<JsThread> {
        let resource_name = env.string(name)?.raw();
        let mut tsfn = ptr::null_mut();
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env.raw(),
                ptr::null_mut(),
                ptr::null_mut(),
                resource_name,
                0, // unbounded queue: calls never block
                1, // this handle's acquisition
                ptr::null_mut(),
                None,
                ptr::null_mut(),
                Some(dispatch),
                &mut tsfn,
            )
        };
        env.check(status, "napi_create_threadsafe_function")?;
        Ok(JsThread { tsfn })
    }

    /// Queues `job` to run on the JS thread. Fails (dropping the job here)
    /// once node is shutting down.
    pub fn call(&self, job: impl FnOnce(Env) + Send + 'static) -> Result<(), napi_status> {
        let job: Box<Job> = Box::new(Box::new(job));
        let data = Box::into_raw(job);
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.tsfn,
                data as *mut c_void,
                sys::napi_tsfn_blocking,
            )
        };
        if status != sys::napi_ok {
            drop(unsafe { Box::from_raw(data) });
            return Err(status);
        }
        Ok(())
    }

    /// Another handle to the same queue, e.g. for a second producer thread.
    pub fn try_clone(&self) -> Result<JsThread, napi_status> {
        let status = unsafe { sys::napi_acquire_threadsafe_function(self.tsfn) };
        if status != sys::napi_ok {
            return Err(status);
        }
        Ok(JsThread { tsfn: self.tsfn })
    }
}

impl Drop for JsThread {
    fn drop(&mut self) {
        unsafe { sys::napi_release_threadsafe_function(self.tsfn, sys::napi_tsfn_release) };
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
