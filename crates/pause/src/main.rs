//! pause: the infra process of a pod whose containers share a PID
//! namespace. It is PID 1 there, so every process orphaned in the pod is
//! reparented to it; it reaps them (SIGCHLD → waitpid(-1, WNOHANG) until
//! none is left) and otherwise sleeps. SIGTERM or SIGINT ends it with
//! status 0; `-v` prints its version.
//!
//! The three signals are blocked and taken with sigwaitinfo(2) instead of
//! handlers: nothing runs in signal context, and blocked signals reach a
//! namespace's init even though it has no handler (the kernel drops
//! default-action signals sent to init from inside its namespace only when
//! they are not blocked). No allocation, no threads, statically linked
//! (build.rs); std is only there for its panic runtime.

#![no_main]

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::ptr;

const VERSION: &str = concat!("skiff-pause ", env!("CARGO_PKG_VERSION"), "\n");

/// Called by glibc's startup code; `argv` holds `argc` C strings.
#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    for i in 1..usize::try_from(argc).unwrap_or(0) {
        // glibc's startup passes argc valid, NUL-terminated strings.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes();
        if arg == b"-v" || arg == b"--version" {
            write_all(libc::STDOUT_FILENO, VERSION.as_bytes());
            return 0;
        }
    }
    // Other arguments are ignored, as Kubernetes' pause does.
    if unsafe { libc::getpid() } != 1 {
        write_all(
            libc::STDERR_FILENO,
            b"pause: warning: not PID 1; only own children are reaped\n",
        );
    }

    let set = signal_set(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT]);
    if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, ptr::null_mut()) } != 0 {
        write_all(libc::STDERR_FILENO, b"pause: sigprocmask failed\n");
        return 1;
    }
    // Children that ended before the mask was in place.
    reap();
    loop {
        match unsafe { libc::sigwaitinfo(&set, ptr::null_mut()) } {
            libc::SIGCHLD => reap(),
            libc::SIGTERM | libc::SIGINT => return 0,
            // EINTR (a stop/continue) or anything unexpected: wait again.
            _ => {}
        }
    }
}

fn signal_set(signals: &[c_int]) -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &sig in signals {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

/// Collects every child that has exited; SIGCHLDs coalesce, so one signal
/// may stand for many.
fn reap() {
    loop {
        let pid = unsafe { libc::waitpid(-1, ptr::null_mut(), libc::WNOHANG) };
        if pid > 0 {
            continue;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // 0: children left, none exited; ECHILD: no children at all.
        return;
    }
}

fn write_all(fd: c_int, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
        } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}
