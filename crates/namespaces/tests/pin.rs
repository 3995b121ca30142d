//! Pinning real namespaces (needs root; each test says why it skips).
//! What a pinned namespace holds is checked from a fresh thread that
//! setns(2)es into it, and with nsenter(1) + ip(8)/hostname(1)/cat(1).

use std::fs;
use std::os::raw::c_int;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use namespaces::{is_pinned, pin, unpin, Kind, PinOptions};

fn skip_unless_root(name: &str) -> bool {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping {}: needs root to create namespaces", name);
        return true;
    }
    false
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ns-test-{}-{}", std::process::id(), name));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Runs `f` on a new thread that first joins the namespaces pinned at
/// the given files; the thread (and its namespaces) ends with `f`.
fn in_namespaces<T: Send>(files: &[(&Path, c_int)], f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            for &(file, nstype) in files {
                let fd = fs::File::open(file).unwrap();
                let rc = unsafe { libc::setns(fd.as_raw_fd(), nstype) };
                assert_eq!(
                    rc,
                    0,
                    "setns {}: {}",
                    file.display(),
                    std::io::Error::last_os_error()
                );
            }
            f()
        })
        .join()
        .unwrap()
    })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    assert_eq!(
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) },
        0
    );
    let end = buf.iter().position(|&b| b == 0).unwrap();
    String::from_utf8(buf[..end].to_vec()).unwrap()
}

fn lo_flags() -> c_int {
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    req.ifr_name[0] = b'l' as libc::c_char;
    req.ifr_name[1] = b'o' as libc::c_char;
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) };
    unsafe { libc::close(fd) };
    assert_eq!(rc, 0);
    c_int::from(unsafe { req.ifr_ifru.ifru_flags })
}

fn sysctl(key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    fs::read_to_string(path).unwrap().trim().to_string()
}

fn ns_inode(path: &str) -> u64 {
    fs::metadata(path).unwrap().ino()
}

fn nsenter(args: &[&str]) -> String {
    let out = Command::new("nsenter").args(args).output().unwrap();
    assert!(out.status.success(), "nsenter {:?}: {:?}", args, out);
    String::from_utf8(out.stdout).unwrap()
}

const PORT_START: &str = "net.ipv4.ip_unprivileged_port_start";
const RMID_FORCED: &str = "kernel.shm_rmid_forced";

#[test]
fn pins_net_ipc_uts_with_hostname_and_sysctls() {
    if skip_unless_root("pins_net_ipc_uts_with_hostname_and_sysctls") {
        return;
    }
    let base = scratch("full");
    let dir = base.join("pod/ns");
    // Values that differ from the host's, whatever those are.
    let (host_port, host_rmid, host_name) = (sysctl(PORT_START), sysctl(RMID_FORCED), hostname());
    let port = if host_port == "80" { "81" } else { "80" };
    let rmid = if host_rmid == "0" { "1" } else { "0" };
    let host_net = ns_inode("/proc/thread-self/ns/net");

    let pinned = pin(&PinOptions {
        dir: dir.clone(),
        kinds: vec![Kind::Net, Kind::Ipc, Kind::Uts],
        hostname: Some("pod-a.example".to_string()),
        sysctls: vec![
            (PORT_START.to_string(), port.to_string()),
            (RMID_FORCED.to_string(), rmid.to_string()),
        ],
    })
    .unwrap();
    let (net, ipc, uts) = (
        pinned.net.clone().unwrap(),
        pinned.ipc.clone().unwrap(),
        pinned.uts.clone().unwrap(),
    );
    assert_eq!(net, dir.join("net"));
    assert_eq!(ipc, dir.join("ipc"));
    assert_eq!(uts, dir.join("uts"));
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for file in [&net, &ipc, &uts] {
        assert!(is_pinned(file).unwrap(), "{}", file.display());
    }
    // A namespace of its own, not this thread's (nor the process's).
    assert_ne!(fs::metadata(&net).unwrap().ino(), host_net);

    // Inside: lo is up, the hostname and both sysctls are set.
    let (flags, name, in_port, in_rmid) = in_namespaces(
        &[
            (&net, libc::CLONE_NEWNET),
            (&ipc, libc::CLONE_NEWIPC),
            (&uts, libc::CLONE_NEWUTS),
        ],
        || {
            (
                lo_flags(),
                hostname(),
                sysctl(PORT_START),
                sysctl(RMID_FORCED),
            )
        },
    );
    assert_ne!(flags & libc::IFF_UP, 0, "lo is down (flags {:#x})", flags);
    assert_eq!(name, "pod-a.example");
    assert_eq!(in_port, port);
    assert_eq!(in_rmid, rmid);

    // The same seen by other tools, from other processes.
    let net_arg = format!("--net={}", net.display());
    let link = nsenter(&[&net_arg, "ip", "-o", "link", "show", "lo"]);
    assert!(link.contains(",UP"), "{}", link);
    let uts_arg = format!("--uts={}", uts.display());
    assert_eq!(nsenter(&[&uts_arg, "hostname"]).trim(), "pod-a.example");
    let port_file = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    assert_eq!(nsenter(&[&net_arg, "cat", port_file]).trim(), port);
    let ipc_arg = format!("--ipc={}", ipc.display());
    assert_eq!(
        nsenter(&[&ipc_arg, "cat", "/proc/sys/kernel/shm_rmid_forced"]).trim(),
        rmid
    );

    // Nothing leaked to the host or to the calling thread.
    assert_eq!(sysctl(PORT_START), host_port);
    assert_eq!(sysctl(RMID_FORCED), host_rmid);
    assert_eq!(hostname(), host_name);
    assert_eq!(ns_inode("/proc/thread-self/ns/net"), host_net);
    assert_eq!(nsenter(&["--", "cat", port_file]).trim(), host_port);

    unpin(&pinned.paths()).unwrap();
    for file in [&net, &ipc, &uts] {
        assert!(!file.exists(), "{} still there", file.display());
        assert!(!is_pinned(file).unwrap());
    }
    // Again: nothing left to do, still fine.
    unpin(&pinned.paths()).unwrap();
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn pins_only_what_is_asked() {
    if skip_unless_root("pins_only_what_is_asked") {
        return;
    }
    let dir = scratch("net-only");
    let pinned = pin(&PinOptions {
        dir: dir.clone(),
        kinds: vec![Kind::Net],
        ..PinOptions::default()
    })
    .unwrap();
    assert!(pinned.ipc.is_none() && pinned.uts.is_none());
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["net"]);
    let net = pinned.net.clone().unwrap();
    assert_ne!(
        in_namespaces(&[(&net, libc::CLONE_NEWNET)], lo_flags) & libc::IFF_UP,
        0
    );
    unpin(&pinned.paths()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_sysctl_leaves_nothing_pinned() {
    if skip_unless_root("a_failing_sysctl_leaves_nothing_pinned") {
        return;
    }
    let dir = scratch("bad-sysctl");
    let err = pin(&PinOptions {
        dir: dir.clone(),
        kinds: vec![Kind::Net, Kind::Uts],
        hostname: Some("x".to_string()),
        sysctls: vec![("net.ipv4.no_such_sysctl".to_string(), "1".to_string())],
    })
    .unwrap_err();
    assert_eq!((err.code(), err.syscall), ("ENOENT", "open"), "{}", err);
    assert_eq!(
        err.path.as_deref(),
        Some(Path::new("/proc/sys/net/ipv4/no_such_sysctl"))
    );
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_already_pinned_path_is_eexist_and_kept() {
    if skip_unless_root("an_already_pinned_path_is_eexist_and_kept") {
        return;
    }
    let dir = scratch("twice");
    let first = pin(&PinOptions {
        dir: dir.clone(),
        kinds: vec![Kind::Uts],
        hostname: Some("first".to_string()),
        ..PinOptions::default()
    })
    .unwrap();
    let err = pin(&PinOptions {
        dir: dir.clone(),
        kinds: vec![Kind::Net, Kind::Uts],
        ..PinOptions::default()
    })
    .unwrap_err();
    assert_eq!((err.code(), err.syscall), ("EEXIST", "mount"), "{}", err);
    assert_eq!(err.path.as_deref(), Some(dir.join("uts").as_path()));
    // The second call's own net file is gone, the first pin untouched.
    assert!(!dir.join("net").exists());
    let uts = first.uts.clone().unwrap();
    assert_eq!(
        in_namespaces(&[(&uts, libc::CLONE_NEWUTS)], hostname),
        "first"
    );
    unpin(&first.paths()).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_pins_stay_apart() {
    if skip_unless_root("concurrent_pins_stay_apart") {
        return;
    }
    let base = scratch("concurrent");
    let host_name = hostname();
    let pins: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let dir = base.join(format!("pod{}", i));
                s.spawn(move || {
                    pin(&PinOptions {
                        dir,
                        kinds: vec![Kind::Uts, Kind::Net],
                        hostname: Some(format!("pod-{}", i)),
                        ..PinOptions::default()
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut inodes = Vec::new();
    for (i, pinned) in pins.iter().enumerate() {
        let uts = pinned.uts.clone().unwrap();
        assert_eq!(
            in_namespaces(&[(&uts, libc::CLONE_NEWUTS)], hostname),
            format!("pod-{}", i)
        );
        inodes.push(fs::metadata(pinned.net.as_ref().unwrap()).unwrap().ino());
    }
    inodes.sort_unstable();
    inodes.dedup();
    assert_eq!(inodes.len(), pins.len(), "network namespaces were shared");
    assert_eq!(hostname(), host_name);
    for pinned in &pins {
        unpin(&pinned.paths()).unwrap();
    }
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn invalid_options_are_refused_before_anything_happens() {
    let dir = scratch("invalid");
    let opts = |kinds: Vec<Kind>, hostname: Option<&str>, sysctls: &[(&str, &str)]| PinOptions {
        dir: dir.clone(),
        kinds,
        hostname: hostname.map(str::to_string),
        sysctls: sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let long = "h".repeat(65);
    let cases = [
        opts(vec![], None, &[]),
        opts(vec![Kind::Net, Kind::Net], None, &[]),
        opts(vec![Kind::Net], Some("pod"), &[]),
        opts(vec![Kind::Uts], Some(""), &[]),
        opts(vec![Kind::Uts], Some(&long), &[]),
        opts(vec![Kind::Ipc], None, &[(PORT_START, "80")]),
        opts(vec![Kind::Net], None, &[(RMID_FORCED, "1")]),
        opts(vec![Kind::Net], None, &[("kernel.panic", "1")]),
        opts(vec![Kind::Net], None, &[("net/ipv4/ip_forward", "1")]),
        opts(vec![Kind::Net], None, &[("net.ipv4.....kernel.panic", "1")]),
        opts(vec![Kind::Net], None, &[(PORT_START, "8\x000")]),
    ];
    for case in &cases {
        let err = pin(case).unwrap_err();
        assert_eq!(
            (err.code(), err.syscall),
            ("EINVAL", "unshare"),
            "{:?}",
            case
        );
        assert!(err.detail.is_some());
    }
    assert!(!dir.exists());
}

#[test]
fn unpin_tolerates_missing_and_unmounted_files() {
    let dir = scratch("unpin");
    fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("net");
    fs::write(&plain, "").unwrap();
    let missing = dir.join("ipc");
    let also_missing = dir.join("no/such/dir/uts");
    unpin(&[plain.clone(), missing, also_missing]).unwrap();
    assert!(!plain.exists());
    assert!(!is_pinned(&plain).unwrap());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn is_pinned_is_false_for_ordinary_files() {
    assert!(!is_pinned(Path::new("/proc/self/stat")).unwrap());
    assert!(!is_pinned(Path::new("/no/such/file")).unwrap());
    // The ns files themselves are nsfs, which is what a pin mounts.
    assert!(is_pinned(Path::new("/proc/self/ns/net")).unwrap());
}
