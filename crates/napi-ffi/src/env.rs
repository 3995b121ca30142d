//! `Env`: the JS-thread handle through which values are made and read.

use std::ffi::CString;
use std::os::raw::c_char;
use std::ptr;

use crate::error::{JsError, JsResult};
use crate::sys::{self, napi_env, napi_status, napi_value};

/// A handle to a JS value. Only valid on the JS thread, until the native
/// call that produced it returns; !Send like `Env`.
#[derive(Clone, Copy)]
pub struct Value(napi_value);

impl Value {
    /// # Safety
    /// `raw` must be a live handle from the current env.
    pub unsafe fn from_raw(raw: napi_value) -> Value {
        Value(raw)
    }

    pub fn raw(self) -> napi_value {
        self.0
    }
}

/// The Node-API environment of the current call. Deliberately !Send: it
/// and every `napi_value` are only valid on the JS thread.
#[derive(Clone, Copy)]
pub struct Env {
    raw: napi_env,
}

/// JavaScript `typeof`, with null separated out as Node-API does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Function,
    External,
    BigInt,
    Unknown,
}

impl Env {
    /// # Safety
    /// `raw` must be the env node passed to the current callback.
    pub unsafe fn from_raw(raw: napi_env) -> Env {
        Env { raw }
    }

    pub fn raw(self) -> napi_env {
        self.raw
    }

    /// Turns a Node-API status into a result, capturing node's message
    /// while it is still the last error.
    pub(crate) fn check(self, status: napi_status, call: &'static str) -> JsResult<()> {
        if status == sys::napi_ok {
            return Ok(());
        }
        let mut info: *const sys::napi_extended_error_info = ptr::null();
        let message = unsafe {
            if sys::napi_get_last_error_info(self.raw, &mut info) == sys::napi_ok
                && !info.is_null()
                && !(*info).error_message.is_null()
            {
                std::ffi::CStr::from_ptr((*info).error_message)
                    .to_string_lossy()
                    .into_owned()
            } else {
                String::new()
            }
        };
        Err(JsError::Napi {
            call,
            status,
            message,
        })
    }

    fn make(
        self,
        call: &'static str,
        f: impl FnOnce(*mut napi_value) -> napi_status,
    ) -> JsResult<Value> {
        let mut value = ptr::null_mut();
        self.check(f(&mut value), call)?;
        Ok(Value(value))
    }

    pub fn undefined(self) -> JsResult<Value> {
        self.make("napi_get_undefined", |out| unsafe {
            sys::napi_get_undefined(self.raw, out)
        })
    }

    pub fn null(self) -> JsResult<Value> {
        self.make("napi_get_null", |out| unsafe {
            sys::napi_get_null(self.raw, out)
        })
    }

    pub fn boolean(self, value: bool) -> JsResult<Value> {
        self.make("napi_get_boolean", |out| unsafe {
            sys::napi_get_boolean(self.raw, value, out)
        })
    }

    pub fn double(self, value: f64) -> JsResult<Value> {
        self.make("napi_create_double", |out| unsafe {
            sys::napi_create_double(self.raw, value, out)
        })
    }

    pub fn string(self, value: &str) -> JsResult<Value> {
        self.make("napi_create_string_utf8", |out| unsafe {
            sys::napi_create_string_utf8(
                self.raw,
                value.as_ptr() as *const c_char,
                value.len(),
                out,
            )
        })
    }

    pub fn object(self) -> JsResult<Value> {
        self.make("napi_create_object", |out| unsafe {
            sys::napi_create_object(self.raw, out)
        })
    }

    pub fn array(self, len: usize) -> JsResult<Value> {
        self.make("napi_create_array_with_length", |out| unsafe {
            sys::napi_create_array_with_length(self.raw, len, out)
        })
    }

    pub fn set_named(self, object: Value, name: &str, value: Value) -> JsResult<()> {
        let name = property_name(name)?;
        let status =
            unsafe { sys::napi_set_named_property(self.raw, object.0, name.as_ptr(), value.0) };
        self.check(status, "napi_set_named_property")
    }

    pub fn get_named(self, object: Value, name: &str) -> JsResult<Value> {
        let name = property_name(name)?;
        self.make("napi_get_named_property", |out| unsafe {
            sys::napi_get_named_property(self.raw, object.0, name.as_ptr(), out)
        })
    }

    /// The object's own enumerable string keys (Object.keys), as a JS
    /// array of strings.
    pub fn own_keys(self, object: Value) -> JsResult<Value> {
        self.make("napi_get_all_property_names", |out| unsafe {
            sys::napi_get_all_property_names(
                self.raw,
                object.0,
                sys::napi_key_own_only,
                sys::napi_key_enumerable | sys::napi_key_skip_symbols,
                sys::napi_key_numbers_to_strings,
                out,
            )
        })
    }

    /// A new Buffer holding a copy of `bytes`.
    pub fn buffer_copy(self, bytes: &[u8]) -> JsResult<Value> {
        self.make("napi_create_buffer_copy", |out| unsafe {
            sys::napi_create_buffer_copy(
                self.raw,
                bytes.len(),
                bytes.as_ptr() as *const std::os::raw::c_void,
                ptr::null_mut(),
                out,
            )
        })
    }

    pub fn set_element(self, array: Value, index: u32, value: Value) -> JsResult<()> {
        let status = unsafe { sys::napi_set_element(self.raw, array.0, index, value.0) };
        self.check(status, "napi_set_element")
    }

    pub fn get_element(self, array: Value, index: u32) -> JsResult<Value> {
        self.make("napi_get_element", |out| unsafe {
            sys::napi_get_element(self.raw, array.0, index, out)
        })
    }

    pub fn type_of(self, value: Value) -> JsResult<ValueType> {
        let mut t = 0;
        self.check(
            unsafe { sys::napi_typeof(self.raw, value.0, &mut t) },
            "napi_typeof",
        )?;
        Ok(match t {
            sys::napi_undefined => ValueType::Undefined,
            sys::napi_null => ValueType::Null,
            sys::napi_boolean => ValueType::Boolean,
            sys::napi_number => ValueType::Number,
            sys::napi_string => ValueType::String,
            sys::napi_symbol => ValueType::Symbol,
            sys::napi_object => ValueType::Object,
            sys::napi_function => ValueType::Function,
            sys::napi_external => ValueType::External,
            sys::napi_bigint => ValueType::BigInt,
            _ => ValueType::Unknown,
        })
    }

    pub fn is_array(self, value: Value) -> JsResult<bool> {
        let mut out = false;
        self.check(
            unsafe { sys::napi_is_array(self.raw, value.0, &mut out) },
            "napi_is_array",
        )?;
        Ok(out)
    }

    pub fn array_length(self, array: Value) -> JsResult<u32> {
        let mut out = 0;
        let status = unsafe { sys::napi_get_array_length(self.raw, array.0, &mut out) };
        self.check(status, "napi_get_array_length")?;
        Ok(out)
    }

    pub fn get_bool(self, value: Value) -> JsResult<bool> {
        let mut out = false;
        let status = unsafe { sys::napi_get_value_bool(self.raw, value.0, &mut out) };
        self.check(status, "napi_get_value_bool")?;
        Ok(out)
    }

    pub fn get_double(self, value: Value) -> JsResult<f64> {
        let mut out = 0.0;
        let status = unsafe { sys::napi_get_value_double(self.raw, value.0, &mut out) };
        self.check(status, "napi_get_value_double")?;
        Ok(out)
    }

    /// A JS string as UTF-8 (lone surrogates become U+FFFD).
    pub fn get_string(self, value: Value) -> JsResult<String> {
        let call = "napi_get_value_string_utf8";
        let mut len = 0;
        let status = unsafe {
            sys::napi_get_value_string_utf8(self.raw, value.0, ptr::null_mut(), 0, &mut len)
        };
        self.check(status, call)?;
        // Room for the NUL node always writes.
        let mut buf = vec![0u8; len + 1];
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                self.raw,
                value.0,
                buf.as_mut_ptr() as *mut c_char,
                buf.len(),
                &mut len,
            )
        };
        self.check(status, call)?;
        buf.truncate(len);
        // V8 writes valid UTF-8; lossy conversion only guards the invariant.
        Ok(match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Throws `value` as a JS exception.
    pub fn throw(self, value: Value) -> JsResult<()> {
        self.check(unsafe { sys::napi_throw(self.raw, value.0) }, "napi_throw")
    }

    /// Takes the pending JS exception, if there is one.
    pub fn take_exception(self) -> Option<Value> {
        let mut pending = false;
        unsafe {
            if sys::napi_is_exception_pending(self.raw, &mut pending) != sys::napi_ok || !pending {
                return None;
            }
            let mut value = ptr::null_mut();
            if sys::napi_get_and_clear_last_exception(self.raw, &mut value) != sys::napi_ok {
                return None;
            }
            Some(Value(value))
        }
    }
}

fn property_name(name: &str) -> JsResult<CString> {
    CString::new(name).map_err(|_| {
        JsError::invalid_value(format!(
            "Property name {:?} must not contain null bytes",
            name
        ))
    })
}
