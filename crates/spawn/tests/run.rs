//! `run` with real programs: outputs and status, input, the output bound,
//! the timeout, a grandchild that keeps stdout open, failures to start.

use std::time::{Duration, Instant};

use spawn::{run, Command, ExitStatus, RunOptions, RunResult};

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args = vec!["-c".to_string(), script.to_string()];
    cmd.env = vec!["PATH=/usr/bin:/bin".to_string()];
    cmd
}

fn opts() -> RunOptions {
    RunOptions { timeout: Duration::from_secs(20), max_output: 1 << 20, input: None }
}

fn with_input(input: Vec<u8>) -> RunOptions {
    RunOptions { input: Some(input), ..opts() }
}

fn exited(code: i32) -> ExitStatus {
    ExitStatus { code: Some(code), signal: None }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn exit_code_and_both_outputs() {
    let got = run(&sh("echo out; echo err >&2; exit 3"), &opts()).unwrap();
    assert_eq!(
        got,
        RunResult {
            status: exited(3),
            stdout: b"out\n".to_vec(),
            stderr: b"err\n".to_vec(),
            dropped: 0,
            stdout_dropped: 0,
            stderr_dropped: 0,
            timed_out: false,
        }
    );
}

#[test]
fn stdin_is_dev_null_without_input() {
    let got = run(&sh("cat; ls -l /proc/self/fd/0"), &opts()).unwrap();
    assert_eq!(got.status, exited(0));
    assert!(text(&got.stdout).trim_end().ends_with("-> /dev/null"), "{}", text(&got.stdout));
}

#[test]
fn input_is_fed_to_cat_and_read_back() {
    let got = run(&Command::new("/bin/cat"), &with_input(b"hello\nworld\n".to_vec())).unwrap();
    assert_eq!((got.status, text(&got.stdout)), (exited(0), "hello\nworld\n"));

    // An empty input is an immediate end of file, not /dev/null.
    let got = run(&sh("cat; echo done"), &with_input(Vec::new())).unwrap();
    assert_eq!((got.status, text(&got.stdout)), (exited(0), "done\n"));
}

#[test]
fn an_input_larger_than_the_socket_buffers_does_not_deadlock() {
    // cat writes back while we still write: both directions must move.
    let input: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    let mut options = with_input(input.clone());
    options.max_output = 8 << 20;
    let got = run(&Command::new("/bin/cat"), &options).unwrap();
    assert_eq!(got.status, exited(0));
    assert_eq!(got.stdout.len(), input.len());
    assert!(got.stdout == input);
    assert_eq!(got.dropped, 0);
}

#[test]
fn output_beyond_the_bound_is_read_and_dropped_so_the_child_never_blocks() {
    let mut options = opts();
    options.max_output = 1000;
    let started = Instant::now();
    let got = run(&sh("head -c 10000000 /dev/zero; head -c 3000 /dev/zero >&2"), &options).unwrap();
    assert_eq!(got.status, exited(0));
    assert!(!got.timed_out);
    assert_eq!((got.stdout.len(), got.stderr.len()), (1000, 1000));
    assert_eq!((got.stdout_dropped, got.stderr_dropped), (10_000_000 - 1000, 2000));
    assert_eq!(got.dropped, 10_000_000 - 1000 + 2000);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    options.max_output = 0;
    let got = run(&sh("echo hi; echo there >&2"), &options).unwrap();
    assert_eq!((got.stdout.len(), got.stderr.len(), got.dropped), (0, 0, 9));
}

#[test]
fn the_timeout_kills_the_child() {
    let mut options = opts();
    options.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let got = run(&Command { args: vec!["10".to_string()], ..Command::new("/bin/sleep") }, &options).unwrap();
    let took = started.elapsed();
    assert!(got.timed_out);
    assert_eq!(got.status, ExitStatus { code: None, signal: Some(libc::SIGKILL) });
    assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(1500), "{:?}", took);

    // What it printed before is kept.
    let got = run(&sh("echo before; exec sleep 10"), &options).unwrap();
    assert!(got.timed_out);
    assert_eq!(text(&got.stdout), "before\n");
}

#[test]
fn a_grandchild_holding_stdout_delays_the_result_by_a_second_at_most() {
    let started = Instant::now();
    let got = run(&sh("sleep 5 & echo hi"), &opts()).unwrap();
    let took = started.elapsed();
    assert_eq!((got.status, text(&got.stdout)), (exited(0), "hi\n"));
    assert!(!got.timed_out);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "{:?}", took);
}

#[test]
fn a_child_that_exits_without_reading_its_input_is_fine() {
    let got = run(&sh("echo early; exit 7"), &with_input(vec![b'x'; 4 << 20])).unwrap();
    assert_eq!((got.status, text(&got.stdout)), (exited(7), "early\n"));

    // Reads a little, then closes stdin and goes on.
    let got = run(&sh("head -c 5 >/dev/null; exec <&-; sleep 0.1; echo after"), &with_input(vec![b'x'; 4 << 20])).unwrap();
    assert_eq!((got.status, text(&got.stdout)), (exited(0), "after\n"));
}

#[test]
fn a_program_that_cannot_start_is_the_spawn_error() {
    let err = run(&Command::new("/nonexistent/program"), &opts()).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("ENOENT", "posix_spawn"));
    assert_eq!(err.path.as_deref(), Some(std::path::Path::new("/nonexistent/program")));
}

#[test]
fn a_signal_exit_is_reported() {
    let got = run(&sh("echo before; kill -9 $$"), &opts()).unwrap();
    assert_eq!(got.status, ExitStatus { code: None, signal: Some(9) });
    assert_eq!(text(&got.stdout), "before\n");
}

#[test]
fn with_a_new_session_the_timeout_kills_the_whole_process_group() {
    let dir = std::env::temp_dir().join(format!("spawn-run-group-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("grandchild");
    // The grandchild would outlive a kill of its parent alone (and holds no output open).
    let mut cmd = sh(&format!("sleep 30 >/dev/null 2>&1 & echo $! > {}; wait", pidfile.display()));
    cmd.new_session = true;
    let mut options = opts();
    options.timeout = Duration::from_millis(300);
    let got = run(&cmd, &options).unwrap();
    assert!(got.timed_out);
    let grandchild: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // Killed with the group; reaped by init (or a subreaper) shortly after.
    let deadline = Instant::now() + Duration::from_secs(5);
    let gone = loop {
        let state = std::fs::read_to_string(format!("/proc/{}/stat", grandchild)).ok();
        let alive = state.map_or(false, |s| !matches!(s.rsplit(')').next().and_then(|r| r.split_whitespace().next()), Some("Z") | Some("X")));
        if !alive {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(gone, "the grandchild {} was killed with the group", grandchild);
}
