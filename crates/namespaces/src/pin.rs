//! pin / unpin / is_pinned.

use std::ffi::CString;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::mem::{self, MaybeUninit};
use std::os::raw::c_int;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use sys_error::{owned_fd, path_to_cstring, Result, SysError};

use crate::sysctl::{check_sysctl_key, sysctl_kind};

/// A namespace kind that can be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Net,
    Ipc,
    Uts,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Net, Kind::Ipc, Kind::Uts];

    /// The name in /proc/<pid>/ns/ and of the pinned file: "net", "ipc", "uts".
    pub fn name(self) -> &'static str {
        match self {
            Kind::Net => "net",
            Kind::Ipc => "ipc",
            Kind::Uts => "uts",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    fn clone_flag(self) -> c_int {
        match self {
            Kind::Net => libc::CLONE_NEWNET,
            Kind::Ipc => libc::CLONE_NEWIPC,
            Kind::Uts => libc::CLONE_NEWUTS,
        }
    }
}

/// What to pin.
#[derive(Debug, Clone, Default)]
pub struct PinOptions {
    /// Where the pinned files go (`<dir>/<kind>`); created (mode 0700) when
    /// missing.
    pub dir: PathBuf,
    /// The namespaces to create: at least one, each once.
    pub kinds: Vec<Kind>,
    /// Set in the new UTS namespace (which `kinds` must include).
    pub hostname: Option<String>,
    /// (dotted key, value), written in order inside the new namespaces;
    /// each key must belong to one of `kinds` (see [`sysctl_kind`]).
    pub sysctls: Vec<(String, String)>,
}

/// HOST_NAME_MAX.
const HOSTNAME_MAX: usize = 64;
/// Longest sysctl value accepted (the kernel reads at most a page).
const SYSCTL_VALUE_MAX: usize = 4096;

impl PinOptions {
    /// Checks the options' shape; the error says what is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.dir.as_os_str().is_empty() {
            return Err("dir must not be empty".to_string());
        }
        if self.kinds.is_empty() {
            return Err("kinds must name at least one of 'net', 'ipc', 'uts'".to_string());
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if self.kinds[..i].contains(kind) {
                return Err(format!("kinds names '{}' twice", kind.name()));
            }
        }
        if let Some(hostname) = &self.hostname {
            if !self.kinds.contains(&Kind::Uts) {
                return Err("a hostname needs a new 'uts' namespace".to_string());
            }
            if hostname.is_empty() || hostname.len() > HOSTNAME_MAX || hostname.contains('\0') {
                return Err(format!(
                    "hostname must be 1 to {} bytes without NUL (got {} bytes)",
                    HOSTNAME_MAX,
                    hostname.len()
                ));
            }
        }
        for (key, value) in &self.sysctls {
            check_sysctl_key(key)?;
            match sysctl_kind(key) {
                None => {
                    return Err(format!(
                        "sysctl '{}' is not namespaced: setting it would change the host",
                        key
                    ))
                }
                Some(kind) if !self.kinds.contains(&kind) => {
                    return Err(format!(
                        "sysctl '{}' belongs to the '{}' namespace, which is not being created",
                        key,
                        kind.name()
                    ))
                }
                Some(_) => {}
            }
            if value.contains('\0') || value.len() > SYSCTL_VALUE_MAX {
                return Err(format!(
                    "sysctl '{}' value must be at most {} bytes without NUL",
                    key, SYSCTL_VALUE_MAX
                ));
            }
        }
        Ok(())
    }
}

/// The pinned files, one per kind asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pinned {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
}

impl Pinned {
    pub fn get(&self, kind: Kind) -> Option<&Path> {
        match kind {
            Kind::Net => self.net.as_deref(),
            Kind::Ipc => self.ipc.as_deref(),
            Kind::Uts => self.uts.as_deref(),
        }
    }

    fn set(&mut self, kind: Kind, path: PathBuf) {
        match kind {
            Kind::Net => self.net = Some(path),
            Kind::Ipc => self.ipc = Some(path),
            Kind::Uts => self.uts = Some(path),
        }
    }

    /// All pinned files, for [`unpin`].
    pub fn paths(&self) -> Vec<PathBuf> {
        Kind::ALL
            .iter()
            .filter_map(|&k| self.get(k).map(Path::to_path_buf))
            .collect()
    }
}

fn io_error(err: io::Error, syscall: &'static str, path: &Path) -> SysError {
    SysError::new(err.raw_os_error().unwrap_or(libc::EIO), syscall).with_path(path)
}

/// Creates new namespaces of `opts.kinds` and pins each at
/// `<dir>/<kind>`, returning those paths. Fails with EINVAL (syscall
/// "unshare", detail saying why) for invalid options, EEXIST when a
/// namespace is already pinned at one of the paths; otherwise the error
/// names the failing call (unshare, sethostname, socket, ioctl, open or
/// write of a sysctl, mount) and its path. On failure nothing stays
/// pinned and the files made are removed.
pub fn pin(opts: &PinOptions) -> Result<Pinned> {
    opts.validate().map_err(|why| {
        SysError::new(libc::EINVAL, "unshare")
            .with_path(&opts.dir)
            .with_detail(why)
    })?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&opts.dir)
        .map_err(|e| io_error(e, "mkdir", &opts.dir))?;

    let mut files: Vec<(Kind, PathBuf)> = Vec::with_capacity(opts.kinds.len());
    let mut made = || -> Result<()> {
        for &kind in &opts.kinds {
            let file = opts.dir.join(kind.name());
            make_target(&file)?;
            files.push((kind, file));
        }
        in_thread(opts, &files)
    };
    match made() {
        Ok(()) => {
            let mut pinned = Pinned::default();
            for (kind, file) in files {
                pinned.set(kind, file);
            }
            Ok(pinned)
        }
        Err(err) => {
            let paths: Vec<PathBuf> = files.into_iter().map(|(_, f)| f).collect();
            let _ = unpin(&paths);
            Err(err)
        }
    }
}

/// An empty mode-0444 file to bind-mount a namespace onto; refuses a
/// path where a namespace is already pinned.
fn make_target(file: &Path) -> Result<()> {
    if is_pinned(file)? {
        return Err(SysError::new(libc::EEXIST, "mount")
            .with_path(file)
            .with_detail("a namespace is already pinned there"));
    }
    let c = path_to_cstring(file, "open")?;
    let fd = unsafe {
        owned_fd(
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o444 as libc::c_uint,
            ),
            "open",
        )
    }
    .map_err(|e| e.with_path(file))?;
    // Exactly 0444 whatever the umask, and for a file left from before.
    if unsafe { libc::fchmod(fd.as_raw_fd(), 0o444) } != 0 {
        return Err(SysError::last("fchmod").with_path(file));
    }
    Ok(())
}

/// Runs the namespace work on a thread of its own and waits for it. The
/// thread ends with the work, taking its namespaces with it; only the
/// bind mounts keep them.
fn in_thread(opts: &PinOptions, files: &[(Kind, PathBuf)]) -> Result<()> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("skiff:pinns".to_string())
            .spawn_scoped(scope, || in_new_namespaces(opts, files))
            .map_err(|e| {
                SysError::new(e.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create")
            })?;
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The body of the pinning thread.
fn in_new_namespaces(opts: &PinOptions, files: &[(Kind, PathBuf)]) -> Result<()> {
    let flags = opts.kinds.iter().fold(0, |f, k| f | k.clone_flag());
    if unsafe { libc::unshare(flags) } != 0 {
        let kinds: Vec<&str> = opts.kinds.iter().map(|k| k.name()).collect();
        return Err(SysError::last("unshare")
            .with_path(&opts.dir)
            .with_detail(format!("new {} namespaces", kinds.join(", "))));
    }
    if let Some(hostname) = &opts.hostname {
        let rc = unsafe { libc::sethostname(hostname.as_ptr().cast(), hostname.len()) };
        if rc != 0 {
            return Err(SysError::last("sethostname").with_detail(hostname.clone()));
        }
    }
    if opts.kinds.contains(&Kind::Net) {
        loopback_up()?;
    }
    for (key, value) in &opts.sysctls {
        write_sysctl(key, value)?;
    }
    for (kind, file) in files {
        let source = format!("/proc/thread-self/ns/{}", kind.name());
        bind_mount(&source, file)?;
    }
    Ok(())
}

/// Brings `lo` up in the calling thread's network namespace (a socket
/// belongs to the namespace of the thread that creates it), so pods do
/// not depend on the loopback CNI plugin.
fn loopback_up() -> Result<()> {
    let sock = unsafe { owned_fd(libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0), "socket") }
        .map_err(|e| e.with_detail("AF_INET socket to bring lo up"))?;
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = src as libc::c_char;
    }
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } != 0 {
        return Err(SysError::last("ioctl").with_detail("SIOCGIFFLAGS lo"));
    }
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } != 0 {
        return Err(SysError::last("ioctl").with_detail("SIOCSIFFLAGS lo up"));
    }
    Ok(())
}

/// Writes a (validated) sysctl through /proc/sys; which namespace's copy
/// that reaches is decided by the calling thread.
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/sys/{}", key.replace('.', "/")));
    let mut file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| io_error(e, "open", &path).with_detail(format!("sysctl {}", key)))?;
    file.write_all(value.as_bytes())
        .map_err(|e| io_error(e, "write", &path).with_detail(format!("sysctl {}={}", key, value)))
}

fn bind_mount(source: &str, target: &Path) -> Result<()> {
    let src = CString::new(source).expect("no NUL in a /proc path");
    let dst = path_to_cstring(target, "mount")?;
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(SysError::last("mount")
            .with_path(target)
            .with_detail(format!("bind of {}", source)));
    }
    Ok(())
}

/// Whether a namespace is pinned at `path`: it is an nsfs file (statfs
/// magic NSFS_MAGIC), as only a bind mount of one can be. False when the
/// path does not exist.
pub fn is_pinned(path: &Path) -> Result<bool> {
    let c = path_to_cstring(path, "statfs")?;
    let mut st = MaybeUninit::<libc::statfs>::uninit();
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        let err = SysError::last("statfs");
        if err.errno == libc::ENOENT || err.errno == libc::ENOTDIR {
            return Ok(false);
        }
        return Err(err.with_path(path));
    }
    let st = unsafe { st.assume_init() };
    // The types of f_type and NSFS_MAGIC differ between targets.
    #[allow(clippy::unnecessary_cast)]
    let nsfs = st.f_type as i64 == libc::NSFS_MAGIC as i64;
    Ok(nsfs)
}

/// Undoes [`pin`] for each path: detaches every namespace mounted there
/// (only nsfs mounts: nothing else is ever unmounted), then removes the
/// file. Missing paths and paths with nothing mounted are fine, so it can
/// be repeated. Carries on past failures and returns the first (umount2
/// or unlink, with its path).
pub fn unpin(paths: &[PathBuf]) -> Result<()> {
    let mut first = None;
    for path in paths {
        if let Err(err) = unpin_one(path) {
            first.get_or_insert(err);
        }
    }
    match first {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

fn unpin_one(path: &Path) -> Result<()> {
    let c = path_to_cstring(path, "umount2")?;
    // A path pinned twice has two mounts stacked; a few rounds at most.
    for _ in 0..16 {
        if !is_pinned(path)? {
            break;
        }
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } != 0 {
            let err = SysError::last("umount2");
            if err.errno == libc::EINVAL || err.errno == libc::ENOENT {
                break;
            }
            return Err(err.with_path(path));
        }
    }
    if unsafe { libc::unlink(c.as_ptr()) } != 0 {
        let err = SysError::last("unlink");
        if err.errno != libc::ENOENT {
            return Err(err.with_path(path));
        }
    }
    Ok(())
}
