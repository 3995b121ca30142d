//! runtime-gate: conmon's `-r` for a container whose bundle is still being
//! made. conmon can then load and set itself up (exec, fork, log file,
//! attach socket, pipes: several ms) while skiff mounts the rootfs and
//! builds the spec. Its runtime child runs this, which blocks reading one
//! byte from a descriptor skiff gave conmon (conmon passes inherited
//! descriptors on to its runtime child), and then becomes the runtime with
//! the arguments conmon gave it.
//!
//! Settings come from the environment and are removed before the runtime runs:
//!
//! * `SKIFF_GATE_RUNTIME`: the runtime to become (an absolute path);
//! * `SKIFF_GATE_FD`: the descriptor to read the go byte from (closed before the runtime runs).
//!
//! End of file instead of the byte means skiff gave up on the container (or
//! died): the gate fails with a line on stderr and status 1, which conmon
//! reports as the runtime's error. No runtime runs.
//!
//! No std start-up (`no_main`): it reads /proc/self/maps and polls the stdio
//! descriptors, time spent on every container create.

#![no_main]

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

const RUNTIME: &[u8] = b"SKIFF_GATE_RUNTIME";
const FD: &[u8] = b"SKIFF_GATE_FD";

/// Called by glibc's startup code.
#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    // glibc passes argc valid strings and a NULL-terminated environment.
    let args: Vec<&CStr> = (0..usize::try_from(argc).unwrap_or(0)).map(|i| unsafe { CStr::from_ptr(*argv.add(i)) }).collect();
    let mut env: Vec<&CStr> = Vec::new();
    let mut at = envp;
    while !at.is_null() && !unsafe { *at }.is_null() {
        env.push(unsafe { CStr::from_ptr(*at) });
        at = unsafe { at.add(1) };
    }
    // No panic may unwind out of an extern "C" main.
    let why = std::panic::catch_unwind(|| run(&args, &env)).unwrap_or_else(|_| "internal error".to_string());
    let line = format!("runtime-gate: {}\n", why);
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
    1
}

/// Waits for the go byte, then becomes the runtime; returns only why it could not.
fn run(args: &[&CStr], env: &[&CStr]) -> String {
    let runtime = match setting(env, RUNTIME) {
        Some(v) if v.to_bytes().first() == Some(&b'/') => v,
        Some(v) => return format!("{}={:?} is not an absolute path", name(RUNTIME), v),
        None => return format!("{} is not set", name(RUNTIME)),
    };
    let fd = match setting(env, FD).map(|v| v.to_str().ok().and_then(|s| s.parse::<c_int>().ok())) {
        Some(Some(fd)) if fd >= 0 => fd,
        Some(_) => return format!("{} is not a descriptor number", name(FD)),
        None => return format!("{} is not set", name(FD)),
    };
    match read_byte(fd) {
        Ok(true) => {}
        Ok(false) => return "skiff closed the gate without the go byte (the create failed, or skiff died): no runtime runs".to_string(),
        Err(err) => return format!("reading the go byte from descriptor {}: {}", fd, err),
    }
    unsafe { libc::close(fd) };

    // The runtime's argv[0] is its own path; the rest is what conmon passed.
    let mut argv: Vec<*const c_char> = vec![runtime.as_ptr()];
    argv.extend(args.iter().skip(1).map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = env.iter().filter(|e| !is_setting(e, RUNTIME) && !is_setting(e, FD)).map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    unsafe { libc::execve(runtime.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    format!("cannot run {}: {}", runtime.to_string_lossy(), std::io::Error::last_os_error())
}

/// Whether one byte came (false: end of file).
fn read_byte(fd: c_int) -> std::io::Result<bool> {
    let mut byte = 0u8;
    loop {
        match unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) } {
            1 => return Ok(true),
            0 => return Ok(false),
            _ => {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

fn is_setting(entry: &CStr, key: &[u8]) -> bool {
    let e = entry.to_bytes();
    e.len() > key.len() && e.starts_with(key) && e[key.len()] == b'='
}

/// The value of `key` in the environment, as a C string.
fn setting<'a>(env: &[&'a CStr], key: &[u8]) -> Option<&'a CStr> {
    let entry = env.iter().find(|e| is_setting(e, key))?;
    // The value is the entry's tail, still NUL-terminated.
    CStr::from_bytes_with_nul(&entry.to_bytes_with_nul()[key.len() + 1..]).ok()
}

fn name(key: &[u8]) -> &str {
    std::str::from_utf8(key).unwrap_or("?")
}
