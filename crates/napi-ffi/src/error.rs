//! Errors crossing into JavaScript. System errors become `Error`s with the
//! same properties Node puts on its own (`code`, `errno`, `syscall`,
//! `path`); bad arguments become `TypeError`s with Node's ERR_INVALID_ARG_*
//! codes, so callers can handle both like errors from `fs`.

use sys_error::SysError;

use crate::env::{Env, Value};
use crate::sys::{self, napi_status};

pub type JsResult<T> = Result<T, JsError>;

#[derive(Debug)]
pub enum JsError {
    /// A bad argument: thrown as a TypeError with `code`.
    InvalidArg { code: &'static str, message: String },
    /// A number outside its allowed range: a RangeError, ERR_OUT_OF_RANGE.
    OutOfRange(String),
    /// A failed system call.
    Sys(SysError),
    /// An Error with its own code and properties (boxed: it is large).
    Coded(Box<Coded>),
    /// A failed Node-API call. A JS exception may already be pending; if so
    /// that exception is what gets thrown.
    Napi {
        call: &'static str,
        status: napi_status,
        message: String,
    },
    /// A Rust panic caught at the boundary.
    Panic(String),
}

/// An Error with its own `code` (e.g. "ERR_LAYER_FORMAT", or an errno
/// name), the system-error properties (`errno`, `syscall`, `path`) when
/// `sys` is set, and extra string properties (e.g. `entry`).
#[derive(Debug)]
pub struct Coded {
    pub code: &'static str,
    pub message: String,
    pub sys: Option<SysError>,
    pub props: Vec<(&'static str, String)>,
}

impl From<Coded> for JsError {
    fn from(coded: Coded) -> JsError {
        JsError::Coded(Box::new(coded))
    }
}

impl From<SysError> for JsError {
    fn from(err: SysError) -> JsError {
        JsError::Sys(err)
    }
}

impl JsError {
    /// ERR_INVALID_ARG_TYPE: the argument has the wrong type.
    pub fn invalid_type(message: impl Into<String>) -> JsError {
        JsError::InvalidArg {
            code: "ERR_INVALID_ARG_TYPE",
            message: message.into(),
        }
    }

    /// ERR_INVALID_ARG_VALUE: right type, unacceptable value.
    pub fn invalid_value(message: impl Into<String>) -> JsError {
        JsError::InvalidArg {
            code: "ERR_INVALID_ARG_VALUE",
            message: message.into(),
        }
    }

    pub fn out_of_range(message: impl Into<String>) -> JsError {
        JsError::OutOfRange(message.into())
    }

    /// Builds the JS value to throw or reject with. None only when even
    /// that fails (the env is going away).
    pub fn into_value(self, env: Env) -> Option<Value> {
        if let JsError::Napi { .. } = self {
            if let Some(pending) = env.take_exception() {
                return Some(pending);
            }
        }
        self.build(env).ok()
    }

    /// Throws this error in the current JS call.
    pub fn throw(self, env: Env) {
        if let JsError::Napi { .. } = self {
            let mut pending = false;
            unsafe { sys::napi_is_exception_pending(env.raw(), &mut pending) };
            if pending {
                return;
            }
        }
        if let Some(value) = self.into_value(env) {
            let _ = env.throw(value);
        }
    }

    fn build(self, env: Env) -> Result<Value, JsError> {
        match self {
            JsError::InvalidArg { code, message } => create(env, ErrorClass::Type, code, &message),
            JsError::OutOfRange(message) => {
                create(env, ErrorClass::Range, "ERR_OUT_OF_RANGE", &message)
            }
            JsError::Sys(err) => {
                let error = create(env, ErrorClass::Error, err.code(), &err.to_string())?;
                set_sys_props(env, error, &err)?;
                Ok(error)
            }
            JsError::Coded(coded) => {
                let Coded {
                    code,
                    message,
                    sys,
                    props,
                } = *coded;
                let error = create(env, ErrorClass::Error, code, &message)?;
                if let Some(err) = &sys {
                    set_sys_props(env, error, err)?;
                }
                for (name, value) in props {
                    env.set_named(error, name, env.string(&value)?)?;
                }
                Ok(error)
            }
            JsError::Napi {
                call,
                status,
                message,
            } => {
                let text = format!("{} failed (napi_status {}): {}", call, status, message);
                create(env, ErrorClass::Error, "ERR_NAPI", &text)
            }
            JsError::Panic(message) => {
                let text = format!("skiff native code panicked: {}", message);
                create(env, ErrorClass::Error, "ERR_NATIVE_PANIC", &text)
            }
        }
    }
}

fn set_sys_props(env: Env, error: Value, err: &SysError) -> Result<(), JsError> {
    env.set_named(error, "errno", env.double(f64::from(err.errno))?)?;
    env.set_named(error, "syscall", env.string(err.syscall)?)?;
    if let Some(path) = &err.path {
        env.set_named(error, "path", env.string(&path.to_string_lossy())?)?;
    }
    Ok(())
}

enum ErrorClass {
    Error,
    Type,
    Range,
}

fn create(env: Env, class: ErrorClass, code: &str, message: &str) -> Result<Value, JsError> {
    let code = env.string(code)?;
    let message = env.string(message)?;
    let mut error = std::ptr::null_mut();
    let status = unsafe {
        match class {
            ErrorClass::Error => {
                sys::napi_create_error(env.raw(), code.raw(), message.raw(), &mut error)
            }
            ErrorClass::Type => {
                sys::napi_create_type_error(env.raw(), code.raw(), message.raw(), &mut error)
            }
            ErrorClass::Range => {
                sys::napi_create_range_error(env.raw(), code.raw(), message.raw(), &mut error)
            }
        }
    };
    env.check(status, "napi_create_error")?;
    // A handle node just created for us.
    Ok(unsafe { Value::from_raw(error) })
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}
