//! readFileInRoot / mkdirInRoot against a rootfs laid out by a hostile
//! image: absolute and `..` symlinks that would lead to host files, magic
//! links, FIFOs and devices. Host files must never be read or created.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inroot::{create_file_in_root, mkdir_in_root, read_file_in_root};

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// <tmp>/inroot-test-<pid>-<name>/{host,rootfs}: `host` stands for the
/// host's files, `rootfs` for a container's root.
struct Scene {
    base: PathBuf,
    host: PathBuf,
    root: PathBuf,
}

impl Scene {
    fn new(name: &str) -> Scene {
        let base =
            std::env::temp_dir().join(format!("inroot-test-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&base);
        let host = base.join("host");
        let root = base.join("rootfs");
        fs::create_dir_all(&host).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(host.join("secret"), "HOST SECRET").unwrap();
        Scene { base, host, root }
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        read_file_in_root(&self.root, Path::new(path), 1 << 20).unwrap()
    }

    fn read_str(&self, path: &str) -> Option<String> {
        self.read(path).map(|b| String::from_utf8(b).unwrap())
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

#[test]
fn reads_a_plain_file() {
    let s = Scene::new("plain");
    fs::write(s.root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    for path in [
        "/etc/passwd",
        "etc/passwd",
        "/etc/../etc/./passwd",
        "../../etc/passwd",
    ] {
        assert_eq!(
            s.read_str(path).as_deref(),
            Some("root:x:0:0::/root:/bin/sh\n"),
            "{}",
            path
        );
    }
    assert_eq!(s.read("/etc/group"), None);
    assert_eq!(s.read("/no/such/dir/file"), None);
}

#[test]
fn absolute_symlink_resolves_to_the_rootfs_own_target() {
    let s = Scene::new("abs");
    // The classic: /etc/passwd -> /etc/shadow must not read the host's.
    symlink("/etc/shadow", s.root.join("etc/passwd")).unwrap();
    assert_eq!(s.read("/etc/passwd"), None);
    fs::write(s.root.join("etc/shadow"), "rootfs shadow").unwrap();
    assert_eq!(s.read_str("/etc/passwd").as_deref(), Some("rootfs shadow"));

    // A link naming the host file by its full host path.
    symlink(s.host.join("secret"), s.root.join("etc/group")).unwrap();
    assert_eq!(s.read("/etc/group"), None);
    // Directory symlinks to / stay in the root too.
    symlink("/", s.root.join("slash")).unwrap();
    assert_eq!(
        s.read_str("/slash/slash/etc/shadow").as_deref(),
        Some("rootfs shadow")
    );
}

#[test]
fn dotdot_symlinks_are_clamped_to_the_root() {
    let s = Scene::new("dotdot");
    // rootfs/etc/passwd -> ../host/secret and ../../../../host/secret
    // would reach <base>/host/secret on the host.
    symlink("../host/secret", s.root.join("etc/passwd")).unwrap();
    symlink(
        "../../../../../../../../host/secret",
        s.root.join("etc/group"),
    )
    .unwrap();
    symlink("../..", s.root.join("etc/up")).unwrap();
    assert_eq!(s.read("/etc/passwd"), None);
    assert_eq!(s.read("/etc/group"), None);
    assert_eq!(s.read("/etc/up/host/secret"), None);
    assert_eq!(s.read("/../host/secret"), None);

    // With a decoy inside the root, that is what they all reach.
    fs::create_dir(s.root.join("host")).unwrap();
    fs::write(s.root.join("host/secret"), "decoy").unwrap();
    for path in [
        "/etc/passwd",
        "/etc/group",
        "/etc/up/host/secret",
        "/../host/secret",
    ] {
        assert_eq!(s.read_str(path).as_deref(), Some("decoy"), "{}", path);
    }
}

#[test]
fn size_limit_and_file_types() {
    let s = Scene::new("limits");
    fs::write(s.root.join("etc/hundred"), vec![b'x'; 100]).unwrap();
    assert_eq!(
        read_file_in_root(&s.root, Path::new("/etc/hundred"), 100)
            .unwrap()
            .map(|b| b.len()),
        Some(100)
    );
    let err = read_file_in_root(&s.root, Path::new("/etc/hundred"), 99).unwrap_err();
    assert_eq!(err.code(), "EFBIG");
    assert_eq!(err.syscall, "read");
    assert_eq!(
        err.path.as_deref(),
        Some(s.root.join("etc/hundred").as_path())
    );

    fs::write(s.root.join("etc/empty"), "").unwrap();
    assert_eq!(
        read_file_in_root(&s.root, Path::new("/etc/empty"), 0).unwrap(),
        Some(Vec::new())
    );

    let err = read_file_in_root(&s.root, Path::new("/etc"), 100).unwrap_err();
    assert_eq!(err.code(), "EISDIR");

    // A FIFO must be refused, not opened (which would block forever).
    let fifo = CString::new(s.root.join("etc/fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    symlink("/etc/fifo", s.root.join("etc/passwd")).unwrap();
    let started = Instant::now();
    let err = read_file_in_root(&s.root, Path::new("/etc/passwd"), 100).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.code(), "EINVAL");
    assert!(err.to_string().contains("FIFO"), "{}", err);

    // A file in place of a directory on the way: not there.
    assert_eq!(s.read("/etc/hundred/passwd"), None);
}

#[test]
fn devices_are_never_opened() {
    if !is_root() {
        eprintln!("skipping devices_are_never_opened: needs root for mknod");
        return;
    }
    let s = Scene::new("device");
    let dev = CString::new(s.root.join("etc/passwd").as_os_str().as_bytes()).unwrap();
    // /dev/null's numbers; opening it would succeed and read nothing.
    let rc = unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 3)) };
    assert_eq!(rc, 0);
    let err = read_file_in_root(&s.root, Path::new("/etc/passwd"), 100).unwrap_err();
    assert_eq!(err.code(), "EINVAL");
    assert!(err.to_string().contains("character device"), "{}", err);
}

/// A symlink through /proc inside the rootfs (as once the container's
/// /proc is mounted) must not be followed out through a magic link.
#[test]
fn magic_links_are_refused() {
    if !is_root() {
        eprintln!("skipping magic_links_are_refused: needs root to bind-mount /proc");
        return;
    }
    let s = Scene::new("magic");
    let proc_dir = s.root.join("proc");
    fs::create_dir(&proc_dir).unwrap();
    let src = CString::new("/proc").unwrap();
    let dst = CString::new(proc_dir.as_os_str().as_bytes()).unwrap();
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(
        rc,
        0,
        "bind mount /proc: {}",
        std::io::Error::last_os_error()
    );
    symlink(
        format!("/proc/self/root{}", s.host.join("secret").display()),
        s.root.join("etc/passwd"),
    )
    .unwrap();
    let result = read_file_in_root(&s.root, Path::new("/etc/passwd"), 100);
    let mkdir = mkdir_in_root(&s.root, Path::new("/proc/self/root/tmp/escaped"), 0o755);
    unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
    let err = result.unwrap_err();
    assert_eq!(err.code(), "ELOOP", "{}", err);
    assert_eq!(mkdir.unwrap_err().code(), "ELOOP");
    assert!(!Path::new("/tmp/escaped").exists());
}

#[test]
fn mkdir_creates_missing_levels_with_exact_mode() {
    let s = Scene::new("mkdir");
    let old = unsafe { libc::umask(0o077) };
    let made = mkdir_in_root(&s.root, Path::new("/var/lib/app/data"), 0o751);
    unsafe { libc::umask(old) };
    let made = made.unwrap();
    let canon_root = fs::canonicalize(&s.root).unwrap();
    assert_eq!(made, canon_root.join("var/lib/app/data"));
    for dir in ["var", "var/lib", "var/lib/app", "var/lib/app/data"] {
        let mode = fs::metadata(s.root.join(dir)).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o751, "{}", dir);
    }
    // Existing directories are left as they are.
    fs::set_permissions(s.root.join("etc"), fs::Permissions::from_mode(0o700)).unwrap();
    let made = mkdir_in_root(&s.root, Path::new("etc/ssl"), 0o755).unwrap();
    assert_eq!(made, canon_root.join("etc/ssl"));
    assert_eq!(
        fs::metadata(s.root.join("etc"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o700
    );
    // Idempotent; "/" and ".." forms are the root and stay in it.
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("etc/ssl/"), 0o755).unwrap(),
        canon_root.join("etc/ssl")
    );
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("/"), 0o755).unwrap(),
        canon_root
    );
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("../../../x"), 0o755).unwrap(),
        canon_root.join("x")
    );
    assert!(!s.base.join("x").exists());
}

#[test]
fn mkdir_follows_symlinks_only_inside_the_root() {
    let s = Scene::new("mkdir-links");
    let canon_root = fs::canonicalize(&s.root).unwrap();
    fs::create_dir(s.root.join("run")).unwrap();
    // /var/run -> ../run, the usual image layout: followed, in the root.
    fs::create_dir(s.root.join("var")).unwrap();
    symlink("../run", s.root.join("var/run")).unwrap();
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("/var/run/secrets/token"), 0o755).unwrap(),
        canon_root.join("run/secrets/token")
    );

    // ../ escapes land in the root's own /host.
    fs::create_dir(s.root.join("host")).unwrap();
    symlink("../../../../../host", s.root.join("up")).unwrap();
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("/up/made-by-dotdot"), 0o755).unwrap(),
        canon_root.join("host/made-by-dotdot")
    );
    assert!(!s.host.join("made-by-dotdot").exists());

    // An absolute link to the host's directory: in the root that path
    // does not exist, and the dangling link is not followed further.
    symlink(&s.host, s.root.join("abs")).unwrap();
    let err = mkdir_in_root(&s.root, Path::new("/abs/made-by-abs"), 0o755).unwrap_err();
    assert_eq!(err.code(), "EEXIST", "{}", err);
    assert_eq!(err.syscall, "mkdirat");
    assert!(!s.host.join("made-by-abs").exists());
    // Same for a relative dangling link.
    symlink("../../host/nowhere", s.root.join("rel")).unwrap();
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("rel/x"), 0o755)
            .unwrap_err()
            .code(),
        "EEXIST"
    );
    assert!(!s.host.join("nowhere").exists());

    // Chains of links resolve like the kernel would, inside the root.
    fs::create_dir(s.root.join("c")).unwrap();
    symlink("b", s.root.join("a")).unwrap();
    symlink("/c", s.root.join("b")).unwrap();
    assert_eq!(
        mkdir_in_root(&s.root, Path::new("a/d/e"), 0o755).unwrap(),
        canon_root.join("c/d/e")
    );

    // A file on the way.
    fs::write(s.root.join("file"), "").unwrap();
    let err = mkdir_in_root(&s.root, Path::new("file/sub"), 0o755).unwrap_err();
    assert_eq!(err.code(), "ENOTDIR");

    // Nothing appeared on the host side.
    let host_entries: Vec<_> = fs::read_dir(&s.host).unwrap().flatten().collect();
    assert_eq!(host_entries.len(), 1, "{:?}", host_entries);
}

#[test]
fn create_file_makes_missing_levels_and_a_file_with_exact_mode() {
    let s = Scene::new("create");
    let canon_root = fs::canonicalize(&s.root).unwrap();
    let old = unsafe { libc::umask(0o077) };
    let made = create_file_in_root(&s.root, Path::new("app/0.log"), 0o751, 0o640);
    unsafe { libc::umask(old) };
    assert_eq!(made.unwrap(), canon_root.join("app/0.log"));
    let mode = |p: &str| fs::metadata(s.root.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode("app"), mode("app/0.log")), (0o751, 0o640));
    // A file that is there is opened as it is: not truncated, its mode kept.
    fs::write(s.root.join("app/0.log"), "kept").unwrap();
    assert_eq!(
        create_file_in_root(&s.root, Path::new("/app/0.log"), 0o755, 0o600).unwrap(),
        canon_root.join("app/0.log")
    );
    assert_eq!(fs::read_to_string(s.root.join("app/0.log")).unwrap(), "kept");
    assert_eq!(mode("app/0.log"), 0o640);
    // A symlinked directory on the way resolves in the root.
    symlink("/app", s.root.join("logs")).unwrap();
    assert_eq!(
        create_file_in_root(&s.root, Path::new("logs/1.log"), 0o755, 0o600).unwrap(),
        canon_root.join("app/1.log")
    );
}

#[test]
fn create_file_never_follows_its_last_name() {
    let s = Scene::new("create-links");
    // To a host file: refused, and the host file is not touched.
    symlink(s.host.join("secret"), s.root.join("0.log")).unwrap();
    let err = create_file_in_root(&s.root, Path::new("0.log"), 0o755, 0o600).unwrap_err();
    assert_eq!(err.code(), "ELOOP", "{}", err);
    assert!(err.to_string().contains("symbolic link"), "{}", err);
    assert_eq!(fs::read_to_string(s.host.join("secret")).unwrap(), "HOST SECRET");
    // Dangling, to a host path: refused, and nothing is created there.
    symlink(s.host.join("planted"), s.root.join("1.log")).unwrap();
    assert_eq!(
        create_file_in_root(&s.root, Path::new("1.log"), 0o755, 0o600)
            .unwrap_err()
            .code(),
        "ELOOP"
    );
    assert!(!s.host.join("planted").exists());
    // Even to a file inside the root.
    fs::write(s.root.join("target"), "").unwrap();
    symlink("target", s.root.join("2.log")).unwrap();
    assert_eq!(
        create_file_in_root(&s.root, Path::new("2.log"), 0o755, 0o600)
            .unwrap_err()
            .code(),
        "ELOOP"
    );
}

#[test]
fn create_file_refuses_what_is_not_a_regular_file() {
    let s = Scene::new("create-types");
    fs::create_dir(s.root.join("dir")).unwrap();
    assert_eq!(
        create_file_in_root(&s.root, Path::new("dir"), 0o755, 0o600)
            .unwrap_err()
            .code(),
        "EISDIR"
    );
    assert_eq!(
        create_file_in_root(&s.root, Path::new("/"), 0o755, 0o600)
            .unwrap_err()
            .code(),
        "EISDIR"
    );
    // A FIFO: no reader fails at open; with one, the type is refused.
    let fifo = CString::new(s.root.join("fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    assert_eq!(
        create_file_in_root(&s.root, Path::new("fifo"), 0o755, 0o600)
            .unwrap_err()
            .code(),
        "ENXIO"
    );
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.root.join("fifo"))
        .unwrap();
    let err = create_file_in_root(&s.root, Path::new("fifo"), 0o755, 0o600).unwrap_err();
    assert_eq!(err.code(), "EINVAL", "{}", err);
    assert!(err.to_string().contains("FIFO"), "{}", err);
    drop(reader);
    // A hard link to a host file (same filesystem): refused, the file untouched.
    fs::hard_link(s.host.join("secret"), s.root.join("linked.log")).unwrap();
    let err = create_file_in_root(&s.root, Path::new("linked.log"), 0o755, 0o600).unwrap_err();
    assert_eq!(err.code(), "EINVAL", "{}", err);
    assert!(err.to_string().contains("2 hard links"), "{}", err);
    assert_eq!(fs::read_to_string(s.host.join("secret")).unwrap(), "HOST SECRET");
}

#[test]
fn missing_root_is_an_open_error() {
    let s = Scene::new("missing-root");
    let root = s.base.join("nope");
    let err = read_file_in_root(&root, Path::new("etc/passwd"), 10).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("ENOENT", "open"));
    assert_eq!(err.path.as_deref(), Some(root.as_path()));
    let err = mkdir_in_root(&root, Path::new("x"), 0o755).unwrap_err();
    assert_eq!((err.code(), err.syscall), ("ENOENT", "open"));
}
