//! Reading call arguments into Rust types, with TypeErrors that name the
//! offending argument the way Node's own APIs do:
//! `The "options.target" argument must be of type string. Received undefined`.

use std::os::raw::c_void;
use std::path::PathBuf;
use std::ptr;

use crate::env::{Env, Value, ValueType};
use crate::error::{JsError, JsResult};
use crate::sys;

/// Argument readers bound to an env. `name` is what error messages call
/// the value, e.g. "options.lowerdirs[3]".
#[derive(Clone, Copy)]
pub struct Args {
    env: Env,
}

impl Args {
    pub fn new(env: Env) -> Args {
        Args { env }
    }

    /// True for undefined and null: how an optional value is left out.
    pub fn is_absent(self, value: Value) -> JsResult<bool> {
        Ok(matches!(
            self.env.type_of(value)?,
            ValueType::Undefined | ValueType::Null
        ))
    }

    pub fn string(self, value: Value, name: &str) -> JsResult<String> {
        if self.env.type_of(value)? != ValueType::String {
            return Err(self.wrong_type(value, name, "of type string"));
        }
        self.env.get_string(value)
    }

    pub fn optional_string(self, value: Value, name: &str) -> JsResult<Option<String>> {
        if self.is_absent(value)? {
            return Ok(None);
        }
        self.string(value, name).map(Some)
    }

    /// A non-empty string without NUL bytes, as a path.
    pub fn path(self, value: Value, name: &str) -> JsResult<PathBuf> {
        let s = self.string(value, name)?;
        if s.is_empty() {
            return Err(JsError::invalid_value(format!(
                "The \"{}\" argument must be a non-empty path",
                name
            )));
        }
        if s.contains('\0') {
            return Err(JsError::invalid_value(format!(
                "The \"{}\" argument must be a path without null bytes",
                name
            )));
        }
        Ok(PathBuf::from(s))
    }

    pub fn optional_path(self, value: Value, name: &str) -> JsResult<Option<PathBuf>> {
        if self.is_absent(value)? {
            return Ok(None);
        }
        self.path(value, name).map(Some)
    }

    pub fn boolean(self, value: Value, name: &str) -> JsResult<bool> {
        if self.env.type_of(value)? != ValueType::Boolean {
            return Err(self.wrong_type(value, name, "of type boolean"));
        }
        self.env.get_bool(value)
    }

    pub fn optional_bool(self, value: Value, name: &str) -> JsResult<Option<bool>> {
        if self.is_absent(value)? {
            return Ok(None);
        }
        self.boolean(value, name).map(Some)
    }

    /// A copy of the bytes of a Buffer or Uint8Array.
    pub fn bytes(self, value: Value, name: &str) -> JsResult<Vec<u8>> {
        let env = self.env;
        let raw_env = env.raw();
        let mut is_typed = false;
        let status = unsafe { sys::napi_is_typedarray(raw_env, value.raw(), &mut is_typed) };
        env.check(status, "napi_is_typedarray")?;
        if is_typed {
            let mut kind = 0;
            let mut len = 0usize;
            let mut data: *mut c_void = ptr::null_mut();
            let status = unsafe {
                sys::napi_get_typedarray_info(
                    raw_env,
                    value.raw(),
                    &mut kind,
                    &mut len,
                    &mut data,
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            env.check(status, "napi_get_typedarray_info")?;
            if kind == sys::napi_uint8_array || kind == sys::napi_uint8_clamped_array {
                if data.is_null() || len == 0 {
                    return Ok(Vec::new());
                }
                // `data` already includes the view's byte offset; for
                // uint8 arrays `len` is in bytes.
                let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
                return Ok(bytes.to_vec());
            }
        }
        Err(self.wrong_type(value, name, "an instance of Buffer or Uint8Array"))
    }

    /// An optional file mode: permission bits with setuid, setgid and sticky (0 to 0o7777).
    pub fn optional_mode(self, value: Value, name: &str) -> JsResult<Option<u32>> {
        match self.optional_safe_integer(value, name)? {
            Some(m) if m > 0o7777 => Err(JsError::out_of_range(format!(
                "The value of \"{}\" is out of range. It must be an integer >= 0 and <= 4095 (0o7777). Received {}",
                name, m
            ))),
            m => Ok(m.map(|m| m as u32)),
        }
    }

    /// An optional non-negative integer no larger than 2^53 - 1.
    pub fn optional_safe_integer(self, value: Value, name: &str) -> JsResult<Option<u64>> {
        if self.is_absent(value)? {
            return Ok(None);
        }
        if self.env.type_of(value)? != ValueType::Number {
            return Err(self.wrong_type(value, name, "of type number"));
        }
        let n = self.env.get_double(value)?;
        const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
        if !(n.is_finite() && n.fract() == 0.0 && (0.0..=MAX_SAFE).contains(&n)) {
            return Err(JsError::out_of_range(format!(
                "The value of \"{}\" is out of range. It must be an integer >= 0 and <= {}. Received {}",
                name, MAX_SAFE as u64, n
            )));
        }
        Ok(Some(n as u64))
    }

    /// A non-negative integer no larger than 2^53 - 1.
    pub fn safe_integer(self, value: Value, name: &str) -> JsResult<u64> {
        match self.optional_safe_integer(value, name)? {
            Some(n) => Ok(n),
            None => Err(self.wrong_type(value, name, "of type number")),
        }
    }

    /// An optional plain object whose own enumerable properties are all
    /// strings (a `Record<string, string>`), as (key, value) pairs in
    /// property order; each value is checked as "name.key".
    pub fn optional_string_record(
        self,
        value: Value,
        name: &str,
    ) -> JsResult<Option<Vec<(String, String)>>> {
        if !self.optional_object(value, name)? {
            return Ok(None);
        }
        let keys = self.env.own_keys(value)?;
        let len = self.env.array_length(keys)?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let key = self.env.get_string(self.env.get_element(keys, i)?)?;
            let item = self.env.get_named(value, &key)?;
            let text = self.string(item, &format!("{}.{}", name, key))?;
            out.push((key, text));
        }
        Ok(Some(out))
    }

    /// Checks `value` is a plain object (not null, not an array).
    pub fn object(self, value: Value, name: &str) -> JsResult<()> {
        if self.env.type_of(value)? != ValueType::Object || self.env.is_array(value)? {
            return Err(self.wrong_type(value, name, "of type object"));
        }
        Ok(())
    }

    /// Whether an optional object was given; errors if it is something else.
    pub fn optional_object(self, value: Value, name: &str) -> JsResult<bool> {
        if self.is_absent(value)? {
            return Ok(false);
        }
        self.object(value, name).map(|_| true)
    }

    /// The elements of an array, each read with `item` under "name[i]".
    pub fn array<T>(
        self,
        value: Value,
        name: &str,
        mut item: impl FnMut(Value, &str) -> JsResult<T>,
    ) -> JsResult<Vec<T>> {
        if !self.env.is_array(value)? {
            return Err(self.wrong_type(value, name, "an instance of Array"));
        }
        let len = self.env.array_length(value)?;
        let mut out = Vec::with_capacity(len as usize);
        for i in 0..len {
            let element = self.env.get_element(value, i)?;
            out.push(item(element, &format!("{}[{}]", name, i))?);
        }
        Ok(out)
    }

    pub fn optional_array<T>(
        self,
        value: Value,
        name: &str,
        item: impl FnMut(Value, &str) -> JsResult<T>,
    ) -> JsResult<Option<Vec<T>>> {
        if self.is_absent(value)? {
            return Ok(None);
        }
        self.array(value, name, item).map(Some)
    }

    fn wrong_type(self, value: Value, name: &str, expected: &str) -> JsError {
        let received = self
            .describe(value)
            .unwrap_or_else(|_| "an unreadable value".to_string());
        JsError::invalid_type(format!(
            "The \"{}\" argument must be {}. Received {}",
            name, expected, received
        ))
    }

    /// Node's "Received ..." wording.
    fn describe(self, value: Value) -> JsResult<String> {
        let env = self.env;
        Ok(match env.type_of(value)? {
            ValueType::Undefined => "undefined".to_string(),
            ValueType::Null => "null".to_string(),
            ValueType::Boolean => format!("type boolean ({})", env.get_bool(value)?),
            ValueType::Number => format!("type number ({})", env.get_double(value)?),
            ValueType::String => {
                let s = env.get_string(value)?;
                let shown: String = s.chars().take(25).collect();
                let more = if shown.len() < s.len() { "..." } else { "" };
                format!("type string ('{}'{})", shown, more)
            }
            ValueType::Object if env.is_array(value)? => "an instance of Array".to_string(),
            ValueType::Object => "an instance of Object".to_string(),
            ValueType::Function => "function".to_string(),
            ValueType::Symbol => "type symbol".to_string(),
            ValueType::BigInt => "type bigint".to_string(),
            ValueType::External | ValueType::Unknown => "an external value".to_string(),
        })
    }
}
