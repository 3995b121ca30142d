//! Creating directories and reading files inside a root.

use std::ffi::{CStr, CString, OsStr};
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use sys_error::{check, path_to_cstring, Result, SysError};

use crate::clean::clean;
use crate::sys::{openat, openat2, openat_mode, RESOLVE_ROOTED};

/// A root directory to resolve paths in: its fd, its host path (only ever
/// used in messages) and the openat2 resolve flags of every lookup
/// ([`crate::RESOLVE_ROOTED`] or [`crate::RESOLVE_CONFINED`]).
#[derive(Clone, Copy)]
pub struct Root<'a> {
    pub fd: BorrowedFd<'a>,
    pub path: &'a Path,
    pub resolve: u64,
}

impl<'a> Root<'a> {
    pub fn new(fd: BorrowedFd<'a>, path: &'a Path, resolve: u64) -> Root<'a> {
        Root { fd, path, resolve }
    }

    /// The host path of `rel`, for messages.
    pub fn display(&self, rel: &[u8]) -> PathBuf {
        let rel = trim_slashes(rel);
        if rel.is_empty() {
            self.path.to_path_buf()
        } else {
            self.path.join(OsStr::from_bytes(rel))
        }
    }

    /// openat2 of `rel` ("" for the root itself) in the root; the error
    /// names the host path.
    pub fn open(&self, rel: &[u8], flags: libc::c_int) -> Result<OwnedFd> {
        let c = if rel.is_empty() {
            CString::new(".").expect("static C string")
        } else {
            cstring(rel, "openat2").map_err(|e| e.with_path(self.display(rel)))?
        };
        openat2(self.fd.as_raw_fd(), &c, flags, self.resolve)
            .map_err(|e| e.with_path(self.display(rel)))
    }
}

fn trim_slashes(mut rel: &[u8]) -> &[u8] {
    while let [b'/', rest @ ..] = rel {
        rel = rest;
    }
    rel
}

fn cstring(bytes: &[u8], syscall: &'static str) -> Result<CString> {
    CString::new(bytes)
        .map_err(|_| SysError::new(libc::EINVAL, syscall).with_detail("name contains a NUL byte"))
}

/// Opens the caller's root directory (O_PATH). Symlinks in `path` itself
/// are followed: the caller chose it.
pub fn open_root(path: &Path) -> Result<OwnedFd> {
    let c = path_to_cstring(path, "open")?;
    openat(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY).map_err(|e| {
        SysError {
            syscall: "open",
            ..e
        }
        .with_path(path)
    })
}

/// An fd of the directory `rel` inside the root (a path as [`clean`]
/// returns it, "" for the root), creating it and any missing parent.
///
/// Existing components are resolved in the root, symlinks included (a
/// symlink to `/run` is the root's /run). Each missing level is made with
/// mkdirat on the fd of its resolved parent, then opened without following
/// anything and given exactly `mode` (whatever the umask); directories that
/// already exist keep theirs. Fails with EEXIST where a name cannot be
/// resolved yet exists: a symlink to something missing in the root (not
/// followed further), and with ENOTDIR where a component is a file.
pub fn mkdir_all(root: Root<'_>, rel: &[u8], mode: u32) -> Result<OwnedFd> {
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    match root.open(rel, dir_flags) {
        Err(e) if e.errno == libc::ENOENT => {}
        other => return other,
    }
    if mode & !0o7777 != 0 {
        return Err(SysError::new(libc::EINVAL, "mkdirat")
            .with_path(root.display(rel))
            .with_detail(format!("mode {:o} has more than permission bits", mode)));
    }
    // `None` is the root itself.
    let mut cur: Option<OwnedFd> = None;
    let mut created = false;
    let mut start = 0;
    while start < rel.len() {
        let end = rel[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(rel.len(), |i| start + i);
        let prefix = &rel[..end];
        let name = &rel[start..end];
        start = end + 1;
        if name.is_empty() {
            continue;
        }
        if !created {
            match root.open(prefix, dir_flags) {
                Ok(fd) => {
                    cur = Some(fd);
                    continue;
                }
                Err(e) if e.errno == libc::ENOENT => {}
                Err(e) => return Err(e),
            }
        }
        let parent = cur
            .as_ref()
            .map_or(root.fd.as_raw_fd(), |fd| fd.as_raw_fd());
        let c_name = cstring(name, "mkdirat").map_err(|e| e.with_path(root.display(prefix)))?;
        cur = Some(make_dir(parent, &c_name, mode).map_err(|e| {
            let e = e.with_path(root.display(prefix));
            if e.errno == libc::EEXIST {
                e.with_detail("a symlink to something missing in the root is in the way")
            } else {
                e
            }
        })?);
        created = true;
    }
    match cur {
        Some(fd) => Ok(fd),
        // Only "/" components: the root, which the first lookup found.
        None => root.open(b"", dir_flags),
    }
}

/// mkdirat `name` in `parent` and opens it (O_NOFOLLOW) with mode `mode`.
/// When `name` appeared in the meantime as a directory, that one is used
/// as it is.
fn make_dir(parent: RawFd, name: &CStr, mode: u32) -> Result<OwnedFd> {
    // Owner-only until the fd is ours, then exactly `mode`.
    match check(
        unsafe { libc::mkdirat(parent, name.as_ptr(), 0o700) },
        "mkdirat",
    ) {
        Ok(()) => {}
        Err(e) if e.errno == libc::EEXIST => {
            return openat(
                parent,
                name,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )
            .map_err(|_| e);
        }
        Err(e) => return Err(e),
    }
    let fd = openat(
        parent,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
    )?;
    check(
        unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) },
        "fchmod",
    )?;
    Ok(fd)
}

/// The contents of the regular file `rel` inside the root, or None when
/// it does not exist (ENOENT, ENOTDIR on the way). Symlinks are followed
/// but stay in the root. Nothing but a regular file is ever opened for
/// reading (a FIFO would block, a device could act on being opened): the
/// name is resolved to an O_PATH fd, checked, and only then reopened.
/// Fails with EISDIR for a directory, EINVAL for other non-regular files,
/// EFBIG when larger than `max_bytes`.
pub fn read_file(root: Root<'_>, rel: &[u8], max_bytes: u64) -> Result<Option<Vec<u8>>> {
    let path = root.display(&clean(rel));
    let fd = match root.open(rel, libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.errno == libc::ENOENT || e.errno == libc::ENOTDIR => return Ok(None),
        Err(e) => return Err(e.with_path(path)),
    };
    let st = fstat(&fd).map_err(|e| e.with_path(&path))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFDIR => return Err(SysError::new(libc::EISDIR, "read").with_path(path)),
        other => {
            return Err(SysError::new(libc::EINVAL, "open")
                .with_path(path)
                .with_detail(format!("not a regular file but a {}", file_type(other))))
        }
    }
    let too_large = |path: PathBuf| {
        SysError::new(libc::EFBIG, "read")
            .with_path(path)
            .with_detail(format!("larger than the {} bytes allowed", max_bytes))
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > max_bytes {
        return Err(too_large(path));
    }
    // The O_PATH fd pins the inode: this opens exactly the file checked.
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let c = CString::new(proc_path.as_str()).expect("no NUL in a /proc path");
    let file = openat(
        libc::AT_FDCWD,
        &c,
        libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK,
    )
    .map_err(|e| {
        SysError {
            syscall: "open",
            ..e
        }
        .with_path(&path)
        .with_detail(format!("reopening through {}", proc_path))
    })?;
    drop(fd);
    let mut file = std::fs::File::from(file);
    // One byte more than allowed tells "exactly max" from "larger" (the
    // file may have grown since fstat).
    let mut buf = Vec::with_capacity(size.min(max_bytes) as usize + 1);
    (&mut file)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| {
            SysError::new(e.raw_os_error().unwrap_or(libc::EIO), "read").with_path(&path)
        })?;
    if buf.len() as u64 > max_bytes {
        return Err(too_large(path));
    }
    Ok(Some(buf))
}

fn fstat(fd: &OwnedFd) -> Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    check(
        unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) },
        "fstat",
    )?;
    Ok(unsafe { st.assume_init() })
}

fn file_type(fmt: libc::mode_t) -> &'static str {
    match fmt {
        libc::S_IFIFO => "FIFO",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFSOCK => "socket",
        libc::S_IFLNK => "symlink",
        _ => "special file",
    }
}

/// The host path `fd` (opened inside the root) has now, read back from
/// /proc/self/fd; EXDEV if that is not the root or under it, which
/// in-root resolution should make impossible.
pub fn host_path(root: Root<'_>, fd: &OwnedFd) -> Result<PathBuf> {
    let base = fd_path(root.fd.as_raw_fd()).map_err(|e| e.with_path(root.path))?;
    let path = fd_path(fd.as_raw_fd()).map_err(|e| e.with_path(root.path))?;
    if path.starts_with(&base) {
        Ok(path)
    } else {
        Err(SysError::new(libc::EXDEV, "readlink")
            .with_path(path)
            .with_detail(format!("resolved outside the root {}", base.display())))
    }
}

fn fd_path(fd: RawFd) -> Result<PathBuf> {
    let link = format!("/proc/self/fd/{}", fd);
    std::fs::read_link(&link).map_err(|e| {
        SysError::new(e.raw_os_error().unwrap_or(libc::EIO), "readlink").with_detail(link)
    })
}

/// [`mkdir_all`] from host paths, in [`RESOLVE_ROOTED`] mode: creates
/// `path` (any form: absolute, with `..`; cleaned lexically first) inside
/// `root` and returns the host path of the directory it resolved to.
pub fn mkdir_in_root(root: &Path, path: &Path, mode: u32) -> Result<PathBuf> {
    let root_fd = open_root(root)?;
    let r = Root::new(root_fd.as_fd(), root, RESOLVE_ROOTED);
    let rel = clean(path.as_os_str().as_bytes());
    let dir = mkdir_all(r, &rel, mode)?;
    host_path(r, &dir)
}

/// Creates (or opens, if there) the regular file `path` inside `root` and
/// returns its host path: the directories on the way as [`mkdir_in_root`]
/// makes them (`dir_mode` for new ones), the file itself with `file_mode`
/// when new. The last name is never followed: a symlink there fails with
/// ELOOP, a directory with EISDIR, anything else not a regular file (a
/// FIFO, a device) or a file with other hard links with EINVAL, and nothing
/// outside the root is created or opened. For a file another program then
/// opens by its path (conmon's log): what it finds there was checked.
pub fn create_file_in_root(root: &Path, path: &Path, dir_mode: u32, file_mode: u32) -> Result<PathBuf> {
    let root_fd = open_root(root)?;
    let r = Root::new(root_fd.as_fd(), root, RESOLVE_ROOTED);
    let rel = clean(path.as_os_str().as_bytes());
    let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&b""[..], &rel[..]),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err(SysError::new(libc::EISDIR, "openat")
            .with_path(r.display(&rel))
            .with_detail("names a directory, not a file"));
    }
    if file_mode & !0o777 != 0 {
        return Err(SysError::new(libc::EINVAL, "openat")
            .with_path(r.display(&rel))
            .with_detail(format!("mode {:o} has more than permission bits", file_mode)));
    }
    let dir = mkdir_all(r, parent, dir_mode)?;
    let c_name = cstring(name, "openat").map_err(|e| e.with_path(r.display(&rel)))?;
    // O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of blocking; one with is refused below.
    let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK;
    let named = |e: SysError| {
        let e = e.with_path(r.display(&rel));
        if e.errno == libc::ELOOP {
            e.with_detail("is a symbolic link")
        } else {
            e
        }
    };
    // A new file gets exactly `file_mode`, whatever the umask; one that is there keeps its own.
    let fd = match openat_mode(dir.as_raw_fd(), &c_name, flags | libc::O_CREAT | libc::O_EXCL, 0o600 & file_mode) {
        Ok(fd) => {
            check(unsafe { libc::fchmod(fd.as_raw_fd(), file_mode as libc::mode_t) }, "fchmod").map_err(named)?;
            fd
        }
        Err(e) if e.errno == libc::EEXIST => openat_mode(dir.as_raw_fd(), &c_name, flags, 0).map_err(named)?,
        Err(e) => return Err(named(e)),
    };
    let st = fstat(&fd).map_err(|e| e.with_path(r.display(&rel)))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(SysError::new(libc::EINVAL, "openat")
            .with_path(r.display(&rel))
            .with_detail(format!("not a regular file but a {}", file_type(st.st_mode & libc::S_IFMT))));
    }
    // A hard link is another name of a file that may be anywhere on this filesystem.
    if st.st_nlink != 1 {
        return Err(SysError::new(libc::EINVAL, "openat")
            .with_path(r.display(&rel))
            .with_detail(format!("has {} hard links", st.st_nlink)));
    }
    host_path(r, &fd)
}

/// [`read_file`] from host paths, in [`RESOLVE_ROOTED`] mode.
pub fn read_file_in_root(root: &Path, path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>> {
    let root_fd = open_root(root)?;
    let r = Root::new(root_fd.as_fd(), root, RESOLVE_ROOTED);
    read_file(r, path.as_os_str().as_bytes(), max_bytes)
}
