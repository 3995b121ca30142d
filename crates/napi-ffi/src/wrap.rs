//! Rust values owned by JS objects (napi_wrap): the value lives as long as
//! the object and is dropped by its finalizer on the JS thread. Every
//! object wrapped here carries one type tag (N-API 8), so an object wrapped
//! by anything else is never mistaken for ours, and the value itself is a
//! `Box<dyn Any>`, so asking for the wrong Rust type is a `None`, not
//! undefined behaviour.

use std::any::Any;
use std::os::raw::c_void;
use std::ptr;

use crate::env::{Env, Value};
use crate::error::JsResult;
use crate::sys::{self, napi_env};

/// Marks objects wrapped by this crate (random; only needs to be unique).
const TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x5c1f_f0a7_2d4e_91b3,
    upper: 0x8e61_3b0c_f47a_d259,
};

type Native = Box<dyn Any>;

unsafe extern "C" fn finalize(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    // Made by Box::into_raw in `wrap`; node calls this once.
    drop(Box::from_raw(data as *mut Native));
}

impl Env {
    /// Attaches `native` to the plain object `object` (once per object).
    pub fn wrap<T: 'static>(self, object: Value, native: T) -> JsResult<()> {
        let status = unsafe { sys::napi_type_tag_object(self.raw(), object.raw(), &TAG) };
        self.check(status, "napi_type_tag_object")?;
        let data: Box<Native> = Box::new(Box::new(native));
        let data = Box::into_raw(data);
        let status = unsafe {
            sys::napi_wrap(
                self.raw(),
                object.raw(),
                data as *mut c_void,
                Some(finalize),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if let Err(err) = self.check(status, "napi_wrap") {
            drop(unsafe { Box::from_raw(data) });
            return Err(err);
        }
        Ok(())
    }

    /// Runs `f` on the `T` wrapped in `object`; None when `object` is not
    /// one of ours or holds another type.
    pub fn with_wrapped<T: 'static, R>(
        self,
        object: Value,
        f: impl FnOnce(&T) -> R,
    ) -> JsResult<Option<R>> {
        if !matches!(self.type_of(object)?, crate::ValueType::Object) {
            return Ok(None);
        }
        let mut tagged = false;
        let status =
            unsafe { sys::napi_check_object_type_tag(self.raw(), object.raw(), &TAG, &mut tagged) };
        self.check(status, "napi_check_object_type_tag")?;
        if !tagged {
            return Ok(None);
        }
        let mut data: *mut c_void = ptr::null_mut();
        let status = unsafe { sys::napi_unwrap(self.raw(), object.raw(), &mut data) };
        self.check(status, "napi_unwrap")?;
        if data.is_null() {
            return Ok(None);
        }
        // Tagged objects hold a Box<Native> from `wrap`, alive while the
        // object is (and it is: it is a handle of this call).
        let native: &Native = unsafe { &*(data as *const Native) };
        Ok(native.downcast_ref::<T>().map(f))
    }
}
