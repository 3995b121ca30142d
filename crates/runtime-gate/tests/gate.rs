//! Runs the real runtime-gate binary with /bin/sh standing in for the
//! runtime and its stdin as the gate's descriptor.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[path = "../../pause/tests/common/static_elf.rs"]
mod static_elf;

const GATE: &str = env!("CARGO_BIN_EXE_runtime-gate");

/// The gate as conmon runs it: arguments for the runtime, settings in the environment.
fn gate(script: &str) -> Child {
    Command::new(GATE)
        .args(["-c", script, "runtime", "create", "--bundle", "b"])
        .env("SKIFF_GATE_RUNTIME", "/bin/sh")
        .env("SKIFF_GATE_FD", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn becomes_the_runtime_after_the_go_byte() {
    let started = Instant::now();
    let mut child = gate(r#"echo "$0 $* settings=${SKIFF_GATE_FD-none}${SKIFF_GATE_RUNTIME-none}"; cat <&0 2>&1 || echo stdin-closed"#);
    sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the gate waits for the byte");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"g").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Same arguments, none of the gate's settings, and the descriptor closed.
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("runtime create --bundle b settings=nonenone\n"), "{}", stdout);
    assert!(stdout.contains("stdin-closed") || stdout.contains("Bad file descriptor"), "{}", stdout);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn fails_without_running_the_runtime_on_end_of_file() {
    let mut child = gate("echo ran");
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("without the go byte"), "{}", text(&out.stderr));
}

#[test]
fn refuses_missing_or_bad_settings() {
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(GATE);
        cmd.env_remove("SKIFF_GATE_RUNTIME").env_remove("SKIFF_GATE_FD").stdin(Stdio::null());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        text(&out.stderr)
    };
    assert!(run(&[("SKIFF_GATE_FD", "0")]).contains("SKIFF_GATE_RUNTIME is not set"));
    assert!(run(&[("SKIFF_GATE_RUNTIME", "runc"), ("SKIFF_GATE_FD", "0")]).contains("is not an absolute path"));
    assert!(run(&[("SKIFF_GATE_RUNTIME", "/bin/true")]).contains("SKIFF_GATE_FD is not set"));
    assert!(run(&[("SKIFF_GATE_RUNTIME", "/bin/true"), ("SKIFF_GATE_FD", "zero")]).contains("not a descriptor number"));
    assert!(run(&[("SKIFF_GATE_RUNTIME", "/bin/true"), ("SKIFF_GATE_FD", "77")]).contains("descriptor 77"));
}

#[test]
fn reports_a_runtime_that_cannot_run() {
    let mut child = Command::new(GATE)
        .env("SKIFF_GATE_RUNTIME", "/nonexistent/runtime")
        .env("SKIFF_GATE_FD", "0")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"g").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot run /nonexistent/runtime"), "{}", text(&out.stderr));
}

/// Built by pause's build script: static, so nothing but the kernel stands
/// between the go byte and the runtime's exec.
#[test]
fn binary_is_statically_linked() {
    static_elf::assert_statically_linked(GATE);
}
