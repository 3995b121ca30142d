//! Small fd helpers shared by the modules of this crate.

use std::os::unix::io::{OwnedFd, RawFd};

use sys_error::{owned_fd, Result, SysError};

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

/// A close-on-exec duplicate of `fd` (EBADF when it is not open).
pub fn duplicate(fd: RawFd) -> Result<OwnedFd> {
    // A fresh descriptor nobody else owns.
    unsafe { owned_fd(libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0), "fcntl") }
}
