//! Exporting Rust functions to JS. Every export goes through one
//! trampoline that finds the Rust handler in the function's data pointer,
//! catches panics, and turns errors into JS exceptions, so no Rust unwind or
//! error ever crosses the C boundary.

use std::ffi::CString;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::args::Args;
use crate::env::{Env, Value};
use crate::error::{panic_message, JsError, JsResult};
use crate::sys::{self, napi_callback_info, napi_env, napi_value};

/// A Rust function callable from JS.
pub type Handler = fn(&CallContext) -> JsResult<Value>;

/// Arguments beyond this many are ignored, like a JS function declaring
/// only the parameters it uses.
const MAX_ARGS: usize = 8;

pub struct CallContext {
    env: Env,
    argv: [napi_value; MAX_ARGS],
    argc: usize,
    this: napi_value,
    undefined: Value,
}

impl CallContext {
    pub fn env(&self) -> Env {
        self.env
    }

    /// The receiver (`this`) of the call, e.g. the object a method was
    /// called on.
    pub fn this(&self) -> Value {
        if self.this.is_null() {
            self.undefined
        } else {
            // A handle node just gave us for this call.
            unsafe { Value::from_raw(self.this) }
        }
    }

    pub fn args(&self) -> Args {
        Args::new(self.env)
    }

    /// Argument `i`, or undefined when the caller passed fewer.
    pub fn arg(&self, i: usize) -> Value {
        if i < self.argc.min(MAX_ARGS) {
            // Handles node just gave us for this call.
            unsafe { Value::from_raw(self.argv[i]) }
        } else {
            self.undefined
        }
    }
}

unsafe extern "C" fn trampoline(raw_env: napi_env, info: napi_callback_info) -> napi_value {
    let env = Env::from_raw(raw_env);
    let outcome = catch_unwind(AssertUnwindSafe(|| call_handler(env, info)));
    let err = match outcome {
        Ok(Ok(value)) => return value.raw(),
        Ok(Err(err)) => err,
        Err(payload) => JsError::Panic(panic_message(&*payload)),
    };
    err.throw(env);
    ptr::null_mut()
}

fn call_handler(env: Env, info: napi_callback_info) -> JsResult<Value> {
    let mut argv = [ptr::null_mut(); MAX_ARGS];
    let mut argc = MAX_ARGS;
    let mut data: *mut c_void = ptr::null_mut();
    let mut this: napi_value = ptr::null_mut();
    let status = unsafe {
        sys::napi_get_cb_info(
            env.raw(),
            info,
            &mut argc,
            argv.as_mut_ptr(),
            &mut this,
            &mut data,
        )
    };
    env.check(status, "napi_get_cb_info")?;
    // Set by Exports::function from a `Handler`; nothing else uses the slot.
    let handler: Handler = unsafe { std::mem::transmute::<*mut c_void, Handler>(data) };
    let ctx = CallContext {
        env,
        argv,
        argc,
        this,
        undefined: env.undefined()?,
    };
    handler(&ctx)
}

impl Env {
    /// A JS function named `name` that calls `handler`.
    pub fn function(self, name: &str, handler: Handler) -> JsResult<Value> {
        let cname = CString::new(name).map_err(|_| {
            JsError::invalid_value(format!("function name {:?} contains NUL", name))
        })?;
        let mut func = ptr::null_mut();
        let status = unsafe {
            sys::napi_create_function(
                self.raw(),
                cname.as_ptr(),
                name.len(),
                Some(trampoline),
                handler as *mut c_void,
                &mut func,
            )
        };
        self.check(status, "napi_create_function")?;
        // A handle node just created for us.
        Ok(unsafe { Value::from_raw(func) })
    }
}

/// The module's `exports` object during registration.
pub struct Exports {
    env: Env,
    object: Value,
}

impl Exports {
    pub fn env(&self) -> Env {
        self.env
    }

    pub fn function(&self, name: &str, handler: Handler) -> JsResult<()> {
        let func = self.env.function(name, handler)?;
        self.env.set_named(self.object, name, func)
    }

    pub fn value(&self, name: &str, value: Value) -> JsResult<()> {
        self.env.set_named(self.object, name, value)
    }
}

/// Body of `napi_register_module_v1`: runs `init` on the exports object,
/// turning errors and panics into a thrown exception (which fails the
/// require()).
///
/// # Safety
/// `env` and `exports` must be the arguments node passed to
/// `napi_register_module_v1`.
pub unsafe fn register_module(
    env: napi_env,
    exports: napi_value,
    init: fn(&Exports) -> JsResult<()>,
) -> napi_value {
    let env = Env::from_raw(env);
    let target = Exports {
        env,
        object: Value::from_raw(exports),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| init(&target)));
    let err = match outcome {
        Ok(Ok(())) => return exports,
        Ok(Err(err)) => err,
        Err(payload) => JsError::Panic(panic_message(&*payload)),
    };
    err.throw(env);
    ptr::null_mut()
}
