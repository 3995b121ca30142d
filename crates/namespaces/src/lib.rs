//! Pinned namespaces for pod sandboxes: new network, IPC and UTS
//! namespaces kept alive by bind mounts of their nsfs files, so a pod
//! needs no infra process to hold them. Containers join them by path
//! (`namespaces[].path` in the OCI spec) and CNI gets the network one.
//!
//! [`pin`] does the work on a short-lived thread of its own, because
//! unshare(2) of these three namespaces changes only the calling thread
//! (a task's nsproxy is per thread): that thread unshares, sets the
//! hostname, brings `lo` up, applies namespaced sysctls, bind-mounts
//! /proc/thread-self/ns/<kind> (not /proc/self/…, which is the main
//! thread's) onto `<dir>/<kind>`, and exits. The mounts keep the
//! namespaces alive; the caller's threads never change namespace.
//!
//! Sysctls go through plain /proc/sys from that thread: there is no
//! per-task sysctl directory (no /proc/thread-self/sys); /proc/sys picks
//! the net and IPC tables of the namespaces of the task doing the lookup.
//! Only sysctls that belong to a namespace created by the same call are
//! accepted, so nothing ever changes the host's value.

mod pin;
mod sysctl;

pub use pin::{is_pinned, pin, unpin, Kind, PinOptions, Pinned};
pub use sysctl::{check_sysctl_key, sysctl_kind};
