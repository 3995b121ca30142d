//! Stdio::Fd sources whose numbers are other slots: Fd(1) into slot 2
//! while slot 1 gets a pipe, and fds 1 and 2 swapped. A naive sequence of
//! dup2s would hand the child the pipe twice, or one fd twice.
//!
//! This binary's fds 1 and 2 are borrowed for it, so it holds one test
//! only: the harness writes nothing while a lone test runs.

use std::fs::File;
use std::io::Read;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use spawn::{reap, spawn, wait_exit, Command, ExitStatus, Stdio};

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn read_all(fd: OwnedFd) -> String {
    let mut out = String::new();
    File::from(fd).read_to_string(&mut out).unwrap();
    out
}

/// Runs `spawn` with our fds 1 and 2 replaced by `one` and `two`.
fn with_stdout_stderr<T>(one: RawFd, two: RawFd, f: impl FnOnce() -> T) -> T {
    unsafe {
        let saved1 = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 10);
        let saved2 = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 10);
        assert!(saved1 >= 0 && saved2 >= 0);
        libc::dup2(one, 1);
        libc::dup2(two, 2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        libc::dup2(saved1, 1);
        libc::dup2(saved2, 2);
        libc::close(saved1);
        libc::close(saved2);
        result.unwrap()
    }
}

#[test]
fn sources_numbered_like_other_slots_reach_the_right_slot() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args = vec!["-c".to_string(), "echo slot-one; echo slot-two >&2".to_string()];

    // Fd(1) into slot 2 while slot 1 gets a pipe.
    let (ours_r, ours_w) = pipe();
    let (spare_r, spare_w) = pipe();
    cmd.stdio = vec![Stdio::Null, Stdio::Pipe, Stdio::Fd(1)];
    let mut child = with_stdout_stderr(ours_w.as_raw_fd(), spare_w.as_raw_fd(), || spawn(&cmd)).unwrap();
    drop((ours_w, spare_w));
    assert_eq!(read_all(child.pipes[1].take().unwrap()), "slot-one\n");
    assert_eq!(read_all(ours_r), "slot-two\n");
    assert_eq!(read_all(spare_r), "");
    wait_exit(child.pid).unwrap();
    assert_eq!(reap(child.pid).unwrap(), ExitStatus { code: Some(0), signal: None });

    // Our 1 and 2 swapped.
    let (one_r, one_w) = pipe();
    let (two_r, two_w) = pipe();
    cmd.stdio = vec![Stdio::Null, Stdio::Fd(2), Stdio::Fd(1)];
    let child = with_stdout_stderr(one_w.as_raw_fd(), two_w.as_raw_fd(), || spawn(&cmd)).unwrap();
    drop((one_w, two_w));
    assert_eq!(read_all(one_r), "slot-two\n");
    assert_eq!(read_all(two_r), "slot-one\n");
    wait_exit(child.pid).unwrap();
    assert_eq!(reap(child.pid).unwrap(), ExitStatus { code: Some(0), signal: None });
}
