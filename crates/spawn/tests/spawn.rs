//! Real children: what they get (fds, signal state, session, directory,
//! environment) and how they end.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use spawn::{reap, spawn, wait_exit, Command, ExitStatus, Stdio};

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args = vec!["-c".to_string(), script.to_string()];
    cmd.env = vec!["PATH=/usr/bin:/bin".to_string()];
    cmd
}

fn read_all(fd: OwnedFd) -> String {
    let mut out = String::new();
    File::from(fd).read_to_string(&mut out).unwrap();
    out
}

fn wait(pid: libc::pid_t) -> ExitStatus {
    wait_exit(pid).unwrap();
    reap(pid).unwrap()
}

/// Runs `cmd` with stdout as a pipe and returns its output and status.
fn output(mut cmd: Command) -> (String, ExitStatus) {
    cmd.stdio = vec![Stdio::Null, Stdio::Pipe, Stdio::Null];
    let mut child = spawn(&cmd).unwrap();
    let out = read_all(child.pipes[1].take().unwrap());
    (out, wait(child.pid))
}

fn exited(code: i32) -> ExitStatus {
    ExitStatus { code: Some(code), signal: None }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spawn-test-{}-{}", std::process::id(), name));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

#[test]
fn exit_code_and_output_through_pipes() {
    let mut cmd = sh("echo out; echo err >&2; exit 3");
    cmd.stdio = vec![Stdio::Null, Stdio::Pipe, Stdio::Pipe];
    let mut child = spawn(&cmd).unwrap();
    assert!(child.pipes[0].is_none());
    let out = read_all(child.pipes[1].take().unwrap());
    let err = read_all(child.pipes[2].take().unwrap());
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(wait(child.pid), exited(3));
}

#[test]
fn stdin_pipe_is_a_socket_whose_write_side_can_be_shut_down() {
    let mut cmd = Command::new("/bin/cat");
    cmd.stdio = vec![Stdio::Pipe, Stdio::Pipe, Stdio::Null];
    let mut child = spawn(&cmd).unwrap();
    let stdin = child.pipes[0].take().unwrap();
    let written = unsafe { libc::write(stdin.as_raw_fd(), b"hello\n".as_ptr().cast(), 6) };
    assert_eq!(written, 6);
    assert_eq!(unsafe { libc::shutdown(stdin.as_raw_fd(), libc::SHUT_WR) }, 0);
    assert_eq!(read_all(child.pipes[1].take().unwrap()), "hello\n");
    assert_eq!(wait(child.pid), exited(0));
}

#[test]
fn killed_by_a_signal() {
    let (_, status) = output(sh("kill -9 $$"));
    assert_eq!(status, ExitStatus { code: None, signal: Some(9) });
}

#[test]
fn wait_exit_leaves_a_zombie_that_reap_collects() {
    let cmd = Command::new("/bin/sleep");
    let mut cmd = Command { args: vec!["30".to_string()], ..cmd };
    cmd.stdio = vec![Stdio::Null];
    let child = spawn(&cmd).unwrap();
    let err = reap(child.pid).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("EAGAIN", "waitpid"));

    assert_eq!(unsafe { libc::kill(child.pid, libc::SIGKILL) }, 0);
    wait_exit(child.pid).unwrap();
    let stat = fs::read_to_string(format!("/proc/{}/stat", child.pid)).unwrap();
    let state = stat.rsplit_once(") ").unwrap().1.split(' ').next().unwrap();
    assert_eq!(state, "Z", "still there, unreaped");
    // Still ours to signal: nothing else can have its pid.
    assert_eq!(unsafe { libc::kill(child.pid, 0) }, 0);

    assert_eq!(reap(child.pid).unwrap(), ExitStatus { code: None, signal: Some(9) });
    assert!(fs::metadata(format!("/proc/{}", child.pid)).is_err());
    assert_eq!(reap(child.pid).unwrap_err().code(), "ECHILD");
}

#[test]
fn pid_zero_and_below_are_refused_rather_than_reaping_anything() {
    for pid in [0, -1] {
        assert_eq!(reap(pid).unwrap_err().code(), "EINVAL");
        assert_eq!(wait_exit(pid).unwrap_err().code(), "EINVAL");
    }
}

#[test]
fn cwd_is_honoured_and_a_missing_one_fails_the_spawn() {
    let dir = scratch("cwd");
    let mut cmd = Command::new("/bin/pwd");
    cmd.cwd = Some(dir.clone());
    assert_eq!(output(cmd.clone()), (format!("{}\n", dir.display()), exited(0)));

    // A relative program is looked up there too.
    fs::write(dir.join("script"), "#!/bin/sh\necho relative\n").unwrap();
    fs::set_permissions(dir.join("script"), PermissionsExt::from_mode(0o755)).unwrap();
    let mut relative = Command::new("./script");
    relative.cwd = Some(dir.clone());
    assert_eq!(output(relative), ("relative\n".to_string(), exited(0)));

    cmd.cwd = Some(dir.join("missing"));
    let err = spawn(&cmd).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("ENOENT", "posix_spawn"));
    assert_eq!(
        err.to_string(),
        format!("posix_spawn /bin/pwd: No such file or directory (os error 2): in {}/missing", dir.display())
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// (pid, session) from a child's /proc/self/stat.
fn stat_ids(new_session: bool) -> (i32, i32) {
    let mut cmd = Command::new("/bin/cat");
    cmd.args = vec!["/proc/self/stat".to_string()];
    cmd.new_session = new_session;
    let (stat, status) = output(cmd);
    assert_eq!(status, exited(0));
    let pid = stat.split(' ').next().unwrap().parse().unwrap();
    // Fields 3.. follow the parenthesised command name: state ppid pgrp session.
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    (pid, fields[3].parse().unwrap())
}

#[test]
fn new_session_makes_the_child_a_session_leader() {
    let (pid, session) = stat_ids(true);
    assert_eq!(session, pid);
    let (pid, session) = stat_ids(false);
    assert_ne!(session, pid);
    assert_eq!(session, unsafe { libc::getsid(0) });
}

fn status_field(status: &str, name: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(name)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn the_child_starts_with_no_ignored_or_blocked_signal() {
    // The Rust runtime ignores SIGPIPE, as Node does: exec would pass that on.
    let ours = fs::read_to_string("/proc/thread-self/status").unwrap();
    assert_ne!(status_field(&ours, "SigIgn:") & (1 << (libc::SIGPIPE - 1)), 0);

    // And this thread blocks a signal, which the child would inherit too.
    let mut block: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGUSR1);
        libc::sigaddset(&mut block, libc::SIGTERM);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old), 0);
    }
    let mut cmd = Command::new("/bin/cat");
    cmd.args = vec!["/proc/self/status".to_string()];
    let result = std::panic::catch_unwind(|| output(cmd));
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    let (status, code) = result.unwrap();
    assert_eq!(code, exited(0));
    assert_eq!(status_field(&status, "SigIgn:"), 0);
    assert_eq!(status_field(&status, "SigBlk:"), 0);
}

#[test]
fn fd_slots_get_duplicates_of_the_callers_fds() {
    let dir = scratch("fds");
    let file = File::create(dir.join("out")).unwrap();
    let mut cmd = sh("echo to-file >&3; echo to-pipe");
    cmd.stdio = vec![Stdio::Null, Stdio::Pipe, Stdio::Null, Stdio::Fd(file.as_raw_fd())];
    let mut child = spawn(&cmd).unwrap();
    assert!(child.pipes[3].is_none());
    assert_eq!(read_all(child.pipes[1].take().unwrap()), "to-pipe\n");
    assert_eq!(wait(child.pid), exited(0));
    // The caller's fd is still its own.
    assert_ne!(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFD) }, -1);
    assert_eq!(fs::read_to_string(dir.join("out")).unwrap(), "to-file\n");

    // The same fd of the caller's may fill several slots.
    let mut cmd = sh("echo one; echo two >&2");
    cmd.stdio = vec![Stdio::Null, Stdio::Fd(file.as_raw_fd()), Stdio::Fd(file.as_raw_fd())];
    let child = spawn(&cmd).unwrap();
    assert_eq!(wait(child.pid), exited(0));
    assert_eq!(fs::read_to_string(dir.join("out")).unwrap(), "to-file\none\ntwo\n");

    let mut bad = sh("true");
    bad.stdio = vec![Stdio::Null, Stdio::Fd(987_654)];
    let err = spawn(&bad).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("EBADF", "fcntl"));
    fs::remove_dir_all(&dir).unwrap();
}

/// The fds of the child's shell, as it lists them.
fn child_fds(stdio: Vec<Stdio>) -> Vec<String> {
    let mut cmd = sh("ls /proc/$$/fd");
    let out_slot = stdio.iter().position(|s| *s == Stdio::Pipe).unwrap();
    cmd.stdio = stdio;
    let mut child = spawn(&cmd).unwrap();
    let out = read_all(child.pipes[out_slot].take().unwrap());
    assert_eq!(wait(child.pid), exited(0));
    let mut fds: Vec<String> = out.lines().map(str::to_string).collect();
    fds.sort_by_key(|fd| fd.parse::<u32>().unwrap());
    fds
}

#[test]
fn the_child_has_only_its_slots_open() {
    // An fd of ours that is not close-on-exec must not leak.
    let leaky = unsafe { libc::open(b"/dev/null\0".as_ptr().cast(), libc::O_RDONLY) };
    assert!(leaky >= 0);
    assert_eq!(child_fds(vec![Stdio::Null, Stdio::Pipe, Stdio::Null]), ["0", "1", "2"]);
    assert_eq!(child_fds(vec![Stdio::Null, Stdio::Pipe]), ["0", "1"]);
    assert_eq!(
        child_fds(vec![Stdio::Null, Stdio::Pipe, Stdio::Null, Stdio::Pipe, Stdio::Fd(leaky)]),
        ["0", "1", "2", "3", "4"]
    );
    unsafe { libc::close(leaky) };
}

#[test]
fn a_missing_program_is_enoent_from_posix_spawn() {
    let err = spawn(&Command::new("/nonexistent/program")).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("ENOENT", "posix_spawn"));
    assert_eq!(err.path.as_deref(), Some(std::path::Path::new("/nonexistent/program")));

    let dir = scratch("noexec");
    fs::write(dir.join("data"), "not a program\n").unwrap();
    fs::set_permissions(dir.join("data"), PermissionsExt::from_mode(0o644)).unwrap();
    assert_eq!(spawn(&Command::new(dir.join("data"))).unwrap_err().code(), "EACCES");
    // No shell fallback for a file without #!, unlike execvp.
    fs::set_permissions(dir.join("data"), PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(spawn(&Command::new(dir.join("data"))).unwrap_err().code(), "ENOEXEC");
    fs::remove_dir_all(&dir).unwrap();

    let mut nul = Command::new("/bin/true");
    nul.args = vec!["a\0b".to_string()];
    assert_eq!(spawn(&nul).unwrap_err().code(), "EINVAL");
}

#[test]
fn the_environment_is_exactly_what_was_given() {
    let mut cmd = Command::new("/usr/bin/env");
    cmd.env = vec!["A=1".to_string(), "B=two words".to_string(), "EMPTY=".to_string()];
    assert_eq!(output(cmd), ("A=1\nB=two words\nEMPTY=\n".to_string(), exited(0)));

    assert_eq!(output(Command::new("/usr/bin/env")), (String::new(), exited(0)));
}

#[test]
fn argv_zero_is_the_program_path() {
    let mut cmd = sh("echo \"$0\" \"$1\" \"$#\"");
    cmd.args.push("zero".to_string());
    cmd.args.push("one two".to_string());
    assert_eq!(output(cmd), ("zero one two 1\n".to_string(), exited(0)));

    let mut cmd = Command::new("/bin/sh");
    cmd.args = vec!["-c".to_string(), "cat /proc/$$/cmdline".to_string()];
    let (cmdline, _) = output(cmd);
    assert_eq!(cmdline, "/bin/sh\0-c\0cat /proc/$$/cmdline\0");
}

/// A child reading one byte from its start pipe (fd 3): what it got on
/// stdout, what head said on stderr, and its exit code.
fn start_pipe_reader(delay: &str, go: Option<u8>, close_ours: bool) -> (String, String, ExitStatus) {
    let mut cmd = sh(&format!("sleep {}; head -c 1 <&3", delay));
    cmd.stdio = vec![Stdio::Null, Stdio::Pipe, Stdio::Pipe, Stdio::StartPipe];
    let mut child = spawn(&cmd).unwrap();
    let start = child.pipes[3].take().unwrap();
    if let Some(byte) = go {
        assert_eq!(unsafe { libc::write(start.as_raw_fd(), [byte].as_ptr().cast(), 1) }, 1);
    }
    // Kept open, it goes when the child has ended.
    let kept = if close_ours {
        drop(start);
        None
    } else {
        Some(start)
    };
    let out = read_all(child.pipes[1].take().unwrap());
    let err = read_all(child.pipes[2].take().unwrap());
    let status = wait(child.pid);
    drop(kept);
    (out, err, status)
}

#[test]
fn start_pipe_closed_without_a_byte_fails_the_childs_read() {
    let (out, err, status) = start_pipe_reader("0", None, true);
    assert_eq!(out, "");
    assert!(err.contains("Connection reset by peer"), "head said: {}", err);
    assert_eq!(status, exited(1));
}

#[test]
fn start_pipe_byte_is_read_even_after_our_end_closed() {
    // Written and closed before the child reads: it still gets the byte.
    let (out, err, status) = start_pipe_reader("0.2", Some(b'g'), true);
    assert_eq!((out.as_str(), err.as_str()), ("g", ""));
    assert_eq!(status, exited(0));
}

#[test]
fn start_pipe_byte_reaches_a_waiting_child() {
    let (out, _, status) = start_pipe_reader("0", Some(b'g'), false);
    assert_eq!(out, "g");
    assert_eq!(status, exited(0));
}
