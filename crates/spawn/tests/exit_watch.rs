//! notify_exit: one watching thread for many real children.

use std::sync::mpsc;
use std::time::Duration;

use spawn::{notify_exit, reap, spawn, Command, ExitStatus, Stdio};

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args = vec!["-c".to_string(), script.to_string()];
    cmd.env = vec!["PATH=/usr/bin:/bin".to_string()];
    cmd.stdio = vec![Stdio::Null, Stdio::Null, Stdio::Null];
    cmd
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

#[test]
fn every_child_is_told_once_on_one_thread_and_left_for_the_owner_to_reap() {
    let (tx, rx) = mpsc::channel();
    let mut pids = Vec::new();
    // Exits in the reverse of the order they were watched in.
    for i in 0..8 {
        let child = spawn(&sh(&format!("sleep 0.{}; exit {}", 8 - i, i))).unwrap();
        let tx = tx.clone();
        let pid = child.pid;
        notify_exit(pid, Box::new(move |r| tx.send((pid, r, thread_name())).unwrap()));
        pids.push(pid);
    }
    drop(tx);
    let mut told = Vec::new();
    for _ in 0..8 {
        let (pid, result, thread) = rx.recv_timeout(Duration::from_secs(10)).expect("an exit is reported");
        result.unwrap();
        assert_eq!(thread, "skiff:exits");
        // Still a zombie: the status is there for the owner.
        let code = reap(pid).unwrap().code.unwrap();
        told.push((pid, code));
    }
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "nobody is told twice");
    told.sort_unstable();
    let mut expected: Vec<(libc::pid_t, i32)> = pids.iter().copied().zip(0..8).collect();
    expected.sort_unstable();
    assert_eq!(told, expected);
}

#[test]
fn a_child_that_already_exited_is_reported_at_once() {
    let child = spawn(&sh("exit 3")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = mpsc::channel();
    notify_exit(child.pid, Box::new(move |r| tx.send(r).unwrap()));
    rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(reap(child.pid).unwrap(), ExitStatus { code: Some(3), signal: None });
}

#[test]
fn a_pid_that_is_no_process_is_an_error_not_a_wait() {
    let (tx, rx) = mpsc::channel();
    notify_exit(0, Box::new(move |r| tx.send(r).unwrap()));
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap().unwrap_err().errno, libc::EINVAL);
    let (tx, rx) = mpsc::channel();
    // Past pid_max: no such process.
    notify_exit(i32::MAX, Box::new(move |r| tx.send(r).unwrap()));
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap().unwrap_err().errno, libc::ESRCH);
}

#[test]
fn children_spawned_while_others_exit_are_never_told_of_another_s_exit() {
    // posix_spawn's child holds copies of our fds until it execs: a pidfd closed then
    // would stay in the epoll set, and its number may already be a new child's.
    let (tx, rx) = mpsc::channel();
    let spawners: Vec<_> = (0..4)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let child = spawn(&sh("exit 7")).unwrap();
                    let tx = tx.clone();
                    let pid = child.pid;
                    notify_exit(pid, Box::new(move |r| tx.send((pid, r.map(|()| reap(pid)))).unwrap()));
                }
            })
        })
        .collect();
    drop(tx);
    for s in spawners {
        s.join().unwrap();
    }
    let mut told = 0;
    while let Ok((pid, result)) = rx.recv_timeout(Duration::from_secs(10)) {
        let status = result.unwrap().unwrap_or_else(|e| panic!("pid {} told of an exit it had not made: {}", pid, e));
        assert_eq!(status, ExitStatus { code: Some(7), signal: None });
        told += 1;
    }
    assert_eq!(told, 200);
}
