//! Small fd helpers shared by the modules of this crate.

use std::os::unix::io::{FromRawFd, OwnedFd, RawFd};

use sys_error::{Result, SysError};

/// Takes ownership of the fd a libc call returned, or its errno.
pub(crate) fn owned(fd: RawFd, syscall: &'static str) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(SysError::last(syscall));
    }
    // A fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn set_nonblocking(fd: RawFd) -> Result<()> {
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(SysError::last("fcntl"));
    }
    if flags & libc::O_NONBLOCK == 0 && unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(SysError::last("fcntl"));
    }
    Ok(())
}

/// The current errno, for calls whose failure is not always an error.
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// A close-on-exec duplicate of `fd` (EBADF when it is not open).
pub fn duplicate(fd: RawFd) -> Result<OwnedFd> {
    owned(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) }, "fcntl")
}
