//! A small hand-written Node-API binding: raw declarations in [`sys`], and a
//! thin safe layer over the parts skiff needs — values, argument checks,
//! errors shaped like Node's system errors, and promises settled from work
//! running on dedicated threads.
//!
//! Threading model: [`Env`] and `napi_value`s are !Send and only live on the
//! JS thread. Work leaves it as a `Send` closure on a std thread (never the
//! libuv pool, which long mounts or tree walks would starve), and comes back
//! through a [`JsThread`] (a Node-API threadsafe function): for one-off
//! work, a [`Completion`] on the JS thread's one shared queue. The same
//! `JsThread` can carry any number of calls, which is what streaming
//! builds on: a Rust value owned by a JS object ([`Env::wrap`]) whose
//! methods hand work to a long-lived thread and get promises settled back.

pub mod sys;

mod args;
mod env;
mod error;
mod function;
mod js_thread;
mod promise;
mod wrap;

pub use args::Args;
pub use env::{Env, Value, ValueType};
pub use error::{Coded, JsError, JsResult};
pub use function::{register_module, CallContext, Exports, Handler};
pub use js_thread::JsThread;
pub use promise::{settled_promise, spawn_promise, Completion, Deferred};
