//! openat2(2) and the resolve flags skiff uses with it.

use std::ffi::CStr;
use std::os::raw::c_int;
use std::os::unix::io::{FromRawFd, OwnedFd, RawFd};

use sys_error::{Result, SysError};

/// struct open_how (linux/openat2.h); libc's is non-exhaustive.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Inside a root: `..`, absolute paths and absolute symlinks are clamped to
/// it, magic links are refused. Mounts inside the root are crossed (a
/// container rootfs may hold some).
pub const RESOLVE_ROOTED: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// [`RESOLVE_ROOTED`], and refusing to cross into another mount (EXDEV):
/// how everything inside an image layer is resolved.
pub const RESOLVE_CONFINED: u64 = RESOLVE_ROOTED | libc::RESOLVE_NO_XDEV;

/// openat2(2), always O_CLOEXEC. EAGAIN (a concurrent rename or mount raced
/// the lookup) is retried a few times; ENOSYS means the kernel predates
/// 5.6. The error carries no path: callers know what to call it.
pub fn openat2(dir: RawFd, path: &CStr, flags: c_int, resolve: u64) -> Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    let mut again = 0;
    loop {
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        }
        let err = SysError::last("openat2");
        match err.errno {
            libc::EINTR => continue,
            libc::EAGAIN if again < 16 => again += 1,
            _ => return Err(err),
        }
    }
}

pub(crate) fn openat(dir: RawFd, name: &CStr, flags: c_int) -> Result<OwnedFd> {
    openat_mode(dir, name, flags, 0)
}

/// openat(2) with a mode for O_CREAT, always O_CLOEXEC; EINTR is retried.
pub(crate) fn openat_mode(dir: RawFd, name: &CStr, flags: c_int, mode: u32) -> Result<OwnedFd> {
    loop {
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = SysError::last("openat");
        if err.errno != libc::EINTR {
            return Err(err);
        }
    }
}
