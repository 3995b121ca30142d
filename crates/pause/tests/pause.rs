//! Runs the real pause binary: version, static linking, signals, reaping
//! (as a plain child and, as root, as PID 1 of a new PID namespace).

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const PAUSE: &str = env!("CARGO_BIN_EXE_pause");

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Polls `check` for up to ten seconds.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {}", what);
        sleep(Duration::from_millis(10));
    }
}

/// A field of /proc/<pid>/status, e.g. "SigBlk".
fn status_field(pid: u32, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{}/status", pid)).ok()?;
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == field).then(|| value.trim().to_string())
    })
}

/// Whether `pid` runs pause and waits in sigwaitinfo, i.e. has its signals
/// in place. (SigBlk in /proc/<pid>/status does not show it: while the
/// wait lasts the kernel unblocks the signals waited for.)
fn ready(pid: u32) -> bool {
    let pause = fs::canonicalize(PAUSE).unwrap();
    if fs::read_link(format!("/proc/{}/exe", pid)).ok() != Some(pause) {
        return false;
    }
    let syscall = fs::read_to_string(format!("/proc/{}/syscall", pid)).unwrap_or_default();
    let nr = syscall
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok());
    if nr == Some(libc::SYS_rt_sigtimedwait) {
        return true;
    }
    fs::read_to_string(format!("/proc/{}/wchan", pid))
        .map_or(false, |wchan| wchan.contains("sigtimedwait"))
}

/// (pid, state) of every process whose parent is `parent`.
fn children(parent: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let pid: u32 = match entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            Some(pid) => pid,
            None => continue,
        };
        let stat = match fs::read_to_string(entry.path().join("stat")) {
            Ok(stat) => stat,
            Err(_) => continue,
        };
        // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
        let rest = match stat.rfind(')') {
            Some(i) => &stat[i + 1..],
            None => continue,
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == parent {
            out.push((pid, state));
        }
    }
    out
}

/// SIGKILLs the processes it holds when dropped, so a failed test leaves
/// nothing running; `disarm` once they ended on their own.
struct KillOnDrop(Vec<u32>);

impl KillOnDrop {
    fn disarm(mut self) {
        self.0.clear();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

fn kill(pid: u32, sig: libc::c_int) {
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

fn exits_zero_on(sig: libc::c_int) {
    let mut child = Command::new(PAUSE).stderr(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let guard = KillOnDrop(vec![pid]);
    wait_for("pause to block its signals", || ready(pid));
    kill(pid, sig);
    let status = child.wait().unwrap();
    guard.disarm();
    assert_eq!(status.code(), Some(0), "pause ended with {:?}", status);
}

#[test]
fn version_flag_prints_version_and_exits_zero() {
    let out = Command::new(PAUSE).arg("-v").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("skiff-pause {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn sigterm_exits_zero() {
    exits_zero_on(libc::SIGTERM);
}

#[test]
fn sigint_exits_zero() {
    exits_zero_on(libc::SIGINT);
}

#[test]
fn binary_is_statically_linked() {
    assert_statically_linked(PAUSE);
}

/// No PT_INTERP or PT_DYNAMIC program header: the kernel runs it without
/// ld.so, and it needs nothing from the root it lands in.
pub fn assert_statically_linked(path: &str) {
    let elf = fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit ELF expected");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    const PT_DYNAMIC: u32 = 2;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
        assert_ne!(p_type, PT_INTERP, "{} asks for a dynamic loader", path);
        assert_ne!(p_type, PT_DYNAMIC, "{} has a dynamic section", path);
    }
    if let Ok(out) = Command::new("ldd").arg(path).output() {
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("not a dynamic executable"), "ldd says: {}", text);
    }
}


/// Runs in a root holding nothing but itself.
#[test]
fn runs_in_an_empty_rootfs() {
    if !is_root() {
        eprintln!("skipping runs_in_an_empty_rootfs: needs root to chroot");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pause-test-{}-rootfs", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(PAUSE, dir.join("pause")).unwrap();
    let out = Command::new("chroot")
        .arg(&dir)
        .args(["/pause", "-v"])
        .output()
        .unwrap();
    fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{:?}", out);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("skiff-pause "));
}

/// Waits until `pid` has a child, then until it has none left (a zombie
/// counts: it would stay forever unless reaped).
fn child_comes_and_goes(pid: u32) {
    wait_for("a child under pause", || !children(pid).is_empty());
    let first = children(pid);
    assert!(first.iter().all(|&(_, state)| state != 'Z'), "{:?}", first);
    wait_for("the exited child to be reaped", || children(pid).is_empty());
}

/// The shell starts `sleep` and then becomes pause, which inherits the
/// child; once sleep exits it must not linger as a zombie.
#[test]
fn reaps_exited_children() {
    let mut child: Child = Command::new("sh")
        .args(["-c", "sleep 0.5 & exec \"$0\"", PAUSE])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let guard = KillOnDrop(vec![pid]);
    wait_for("pause to block its signals", || ready(pid));
    child_comes_and_goes(pid);
    kill(pid, libc::SIGTERM);
    let status = child.wait().unwrap();
    guard.disarm();
    assert_eq!(status.code(), Some(0), "pause ended with {:?}", status);
}

/// As PID 1 of a new PID namespace: a process started in the namespace
/// and orphaned there is reparented to pause and reaped when it exits;
/// SIGTERM still ends it with status 0.
#[test]
fn reaps_orphans_as_pid_1() {
    if !is_root() {
        eprintln!("skipping reaps_orphans_as_pid_1: needs root for a PID namespace");
        return;
    }
    if Command::new("unshare").arg("-V").output().is_err() {
        eprintln!("skipping reaps_orphans_as_pid_1: no unshare(1)");
        return;
    }
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", PAUSE])
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(vec![unshare.id()]);
    let mut pid = 0;
    wait_for("pause under unshare", || {
        pid = children(unshare.id()).first().map_or(0, |&(p, _)| p);
        pid != 0 && ready(pid)
    });
    guard.0.push(pid);
    let nspid = status_field(pid, "NSpid").unwrap();
    assert_eq!(
        nspid.split_whitespace().last(),
        Some("1"),
        "NSpid {}",
        nspid
    );
    assert!(children(pid).is_empty());

    // The shell exits at once; its sleep is orphaned inside the namespace.
    let status = Command::new("nsenter")
        .args(["--target", &pid.to_string(), "--pid", "--"])
        .args(["sh", "-c", "sleep 0.5 >/dev/null 2>&1 &"])
        .status()
        .unwrap();
    assert!(status.success());
    child_comes_and_goes(pid);

    kill(pid, libc::SIGTERM);
    let status = unshare.wait().unwrap();
    guard.disarm();
    assert_eq!(
        status.code(),
        Some(0),
        "unshare (pause) ended with {:?} (signal {:?})",
        status,
        status.signal()
    );
}
