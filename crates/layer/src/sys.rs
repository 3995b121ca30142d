//! Thin wrappers over the fd-relative system calls extraction and removal
//! use. Each returns a `SysError` naming the call; callers attach the path.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use sys_error::{check, owned_fd, retry, SysError};

/// Whole writes, shared with the other crates.
pub use sys_error::write_all;

pub type Result<T> = std::result::Result<T, SysError>;

/// A byte string as a C string; an interior NUL is EINVAL for `syscall`.
pub fn cstring(bytes: &[u8], syscall: &'static str) -> Result<CString> {
    CString::new(bytes)
        .map_err(|_| SysError::new(libc::EINVAL, syscall).with_detail("name contains a NUL byte"))
}

/// openat2 and the resolve flags live with the rest of in-root resolution.
pub use inroot::{openat2, RESOLVE_CONFINED};

pub fn openat(dir: RawFd, name: &CStr, flags: c_int, mode: libc::mode_t) -> Result<OwnedFd> {
    let fd = retry("openat", || unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mkdirat(dir: RawFd, name: &CStr, mode: libc::mode_t) -> Result<()> {
    check(
        unsafe { libc::mkdirat(dir, name.as_ptr(), mode) },
        "mkdirat",
    )
}

pub fn mknodat(dir: RawFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> Result<()> {
    check(
        unsafe { libc::mknodat(dir, name.as_ptr(), mode, dev) },
        "mknodat",
    )
}

pub fn symlinkat(target: &CStr, dir: RawFd, name: &CStr) -> Result<()> {
    check(
        unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) },
        "symlinkat",
    )
}

pub fn linkat(
    olddir: RawFd,
    oldname: &CStr,
    newdir: RawFd,
    newname: &CStr,
    flags: c_int,
) -> Result<()> {
    check(
        unsafe { libc::linkat(olddir, oldname.as_ptr(), newdir, newname.as_ptr(), flags) },
        "linkat",
    )
}

pub fn unlinkat(dir: RawFd, name: &CStr, flags: c_int) -> Result<()> {
    check(
        unsafe { libc::unlinkat(dir, name.as_ptr(), flags) },
        if flags & libc::AT_REMOVEDIR != 0 {
            "rmdir"
        } else {
            "unlinkat"
        },
    )
}

/// The fields of struct stat extraction looks at.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

// The casts are no-ops on x86_64 but not on every target.
#[allow(clippy::unnecessary_cast)]
fn to_stat(st: &libc::stat) -> Stat {
    Stat {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        mode: st.st_mode as u32,
    }
}

/// fstatat without following a final symlink.
pub fn lstatat(dir: RawFd, name: &CStr) -> Result<Stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    check(
        unsafe {
            libc::fstatat(
                dir,
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        "fstatat",
    )?;
    Ok(to_stat(unsafe { &st.assume_init() }))
}

pub fn fstat(fd: RawFd) -> Result<Stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    check(unsafe { libc::fstat(fd, st.as_mut_ptr()) }, "fstat")?;
    Ok(to_stat(unsafe { &st.assume_init() }))
}

pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> Result<()> {
    check(unsafe { libc::fchown(fd, uid, gid) }, "fchown")
}

pub fn lchownat(dir: RawFd, name: &CStr, uid: u32, gid: u32) -> Result<()> {
    check(
        unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) },
        "fchownat",
    )
}

pub fn fchmod(fd: RawFd, mode: u32) -> Result<()> {
    check(unsafe { libc::fchmod(fd, mode as libc::mode_t) }, "fchmod")
}

/// fchmodat follows a final symlink, so callers only use it on names they
/// just created as something other than a symlink.
pub fn fchmodat(dir: RawFd, name: &CStr, mode: u32) -> Result<()> {
    check(
        unsafe { libc::fchmodat(dir, name.as_ptr(), mode as libc::mode_t, 0) },
        "fchmodat",
    )
}

pub fn fsetxattr(fd: RawFd, name: &CStr, value: &[u8]) -> Result<()> {
    check(
        unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) },
        "fsetxattr",
    )
}

/// lsetxattr on `name` inside directory `dir`, reached as
/// /proc/self/fd/<dir>/<name>: the magic link leads to the directory
/// itself, and the final component is not followed.
pub fn lsetxattr_at(dir: RawFd, name: &CStr, key: &CStr, value: &[u8]) -> Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir).into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = cstring(&path, "lsetxattr")?;
    check(
        unsafe {
            libc::lsetxattr(
                path.as_ptr(),
                key.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        },
        "lsetxattr",
    )
}

pub fn futimens(fd: RawFd, times: &[libc::timespec; 2]) -> Result<()> {
    check(unsafe { libc::futimens(fd, times.as_ptr()) }, "futimens")
}

pub fn lutimensat(dir: RawFd, name: &CStr, times: &[libc::timespec; 2]) -> Result<()> {
    check(
        unsafe {
            libc::utimensat(
                dir,
                name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        "utimensat",
    )
}

pub fn pwrite_all(fd: RawFd, mut buf: &[u8], mut offset: u64) -> Result<()> {
    while !buf.is_empty() {
        let off = i64::try_from(offset).map_err(|_| SysError::new(libc::EFBIG, "pwrite"))?;
        let n = retry("pwrite", || unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off) })?;
        if n == 0 {
            return Err(SysError::new(libc::EIO, "pwrite"));
        }
        buf = &buf[n as usize..];
        offset += n as u64;
    }
    Ok(())
}

pub fn ftruncate(fd: RawFd, len: u64) -> Result<()> {
    let len = i64::try_from(len).map_err(|_| SysError::new(libc::EFBIG, "ftruncate"))?;
    retry("ftruncate", || unsafe { libc::ftruncate(fd, len) }).map(drop)
}

pub fn syncfs(fd: RawFd) -> Result<()> {
    check(unsafe { libc::syncfs(fd) }, "syncfs")
}

pub fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    unsafe { owned_fd(libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0), "fcntl") }
}

/// A directory being listed with readdir(3).
pub struct DirList {
    dir: *mut libc::DIR,
}

/// d_type of a directory (others, DT_UNKNOWN included, are tried as files).
pub const DT_DIR: u8 = libc::DT_DIR;

impl DirList {
    /// Lists `fd`'s directory through a duplicate, leaving `fd` usable.
    pub fn new(fd: &OwnedFd) -> Result<DirList> {
        let dup = dup(fd)?;
        let dir = unsafe { libc::fdopendir(dup.as_raw_fd()) };
        if dir.is_null() {
            return Err(SysError::last("fdopendir"));
        }
        // The DIR owns the duplicate now.
        std::mem::forget(dup);
        Ok(DirList { dir })
    }

    /// The next name other than "." and "..", with its d_type.
    pub fn next(&mut self) -> Result<Option<(CString, u8)>> {
        loop {
            // readdir signals errors only through errno.
            unsafe { *libc::__errno_location() = 0 };
            let ent = unsafe { libc::readdir64(self.dir) };
            if ent.is_null() {
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if errno == 0 {
                    return Ok(None);
                }
                return Err(SysError::new(errno, "readdir"));
            }
            let ent = unsafe { &*ent };
            let name = unsafe { CStr::from_ptr(ent.d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            return Ok(Some((name.to_owned(), ent.d_type)));
        }
    }

    /// Starts the listing over.
    pub fn rewind(&mut self) {
        unsafe { libc::rewinddir(self.dir) };
    }
}

impl Drop for DirList {
    fn drop(&mut self) {
        unsafe { libc::closedir(self.dir) };
    }
}

// A DIR stream is plain memory plus an fd; it may move between threads.
unsafe impl Send for DirList {}

/// Lowers the calling thread's scheduling priority (nice 10). Extraction is
/// bulk work: on a small node it must not starve the daemon's JS thread,
/// which answers the kubelet. Linux applies nice per thread; raising nice
/// needs no privilege, so a failure here only means the default priority.
pub fn deprioritize_current_thread() {
    // SAFETY: gettid has no preconditions; setpriority only reads its arguments.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Hands the heap freed by an extraction back to the kernel. Each extraction
/// thread gets its own glibc arena, and a freed arena otherwise stays mapped:
/// after a large pull the daemon kept ~60 MiB it no longer used.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
