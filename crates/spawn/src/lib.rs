//! Child processes for the daemon, started with glibc's posix_spawn.
//!
//! Node's child_process forks the whole daemon, and fork copies its page
//! tables: the event loop stalls for longer the more memory the daemon
//! holds. posix_spawn clones with CLONE_VM | CLONE_VFORK instead, so its
//! cost does not depend on the caller's size, and it runs on whatever
//! thread calls it.
//!
//! - [`spawn`]: starts a [`Command`]: exactly the fds of its [`Stdio`]
//!   slots, a clean signal state, optionally a session of its own.
//! - [`wait_exit`] blocks until the child has exited *without* reaping it,
//!   and [`reap`] collects the status afterwards without blocking. Split so
//!   that the pid stays a zombie, never reused, until its owner has seen
//!   the exit: a thread waits, the owner reaps, and a signal the owner
//!   sends in between cannot reach another process. [`notify_exit`] does
//!   the waiting for any number of children on one thread (pidfds in an
//!   epoll set).
//! - [`run`]: a short-lived program start to finish on the calling thread
//!   (input fed, output collected within a bound, a timeout, the reap) in
//!   one poll loop, for the OCI runtime's quick commands.

mod actions;
mod command;
mod exit_watch;
mod run;
mod spawn;
mod wait;

pub use command::{Command, Stdio};
pub use exit_watch::{notify_exit, OnExit};
pub use run::{run, RunOptions, RunResult};
pub use spawn::{spawn, Child};
pub use wait::{reap, wait_exit, ExitStatus};
