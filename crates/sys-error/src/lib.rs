//! `SysError`: a failed system call, described the way Node describes its own
//! system errors (errno, code, syscall, path) so the addon can hand it to
//! JavaScript unchanged. Every skiff crate that talks to the kernel returns
//! this type; there is deliberately no other error type. The few helpers
//! every such wrapper needs (errno, the -1 check, taking a returned fd) live
//! here with it.

mod errno;

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub use errno::errno_name;

pub type Result<T> = std::result::Result<T, SysError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    /// Positive errno value.
    pub errno: i32,
    /// The system call that failed, e.g. "mount" or "flock".
    pub syscall: &'static str,
    /// The path the call was about, when there is one.
    pub path: Option<PathBuf>,
    /// Extra context, e.g. the kernel's fs_context log for fsconfig.
    pub detail: Option<String>,
}

impl SysError {
    pub fn new(errno: i32, syscall: &'static str) -> Self {
        SysError {
            errno,
            syscall,
            path: None,
            detail: None,
        }
    }

    /// Captures errno right after a failed libc call.
    pub fn last(syscall: &'static str) -> Self {
        SysError::new(errno(), syscall)
    }

    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The symbolic errno name, as Node puts in `err.code`.
    pub fn code(&self) -> &'static str {
        // EAGAIN and EWOULDBLOCK share a number; flock(2) documents the
        // latter, so a lock conflict reads as what the man page promises.
        if self.errno == libc::EWOULDBLOCK && self.syscall == "flock" {
            return "EWOULDBLOCK";
        }
        errno_name(self.errno)
    }
}

impl fmt::Display for SysError {
    /// "mount /x/merged: Invalid argument (os error 22): detail"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.syscall)?;
        if let Some(path) = &self.path {
            write!(f, " {}", path.display())?;
        }
        write!(f, ": {}", io::Error::from_raw_os_error(self.errno))?;
        if let Some(detail) = &self.detail {
            write!(f, ": {}", detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for SysError {}

impl From<SysError> for io::Error {
    fn from(err: SysError) -> io::Error {
        io::Error::new(io::Error::from_raw_os_error(err.errno).kind(), err)
    }
}

/// Converts a path for a libc call. An interior NUL cannot reach the kernel,
/// so it is reported as the EINVAL the call would have given.
pub fn path_to_cstring(path: &Path, syscall: &'static str) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        SysError::new(libc::EINVAL, syscall)
            .with_path(path)
            .with_detail("path contains a NUL byte")
    })
}

/// The calling thread's errno (EIO if none is set), for code that branches
/// on a failure (EINTR, EAGAIN) before deciding it is an error.
pub fn errno() -> c_int {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// The -1-and-errno convention: Ok for a return code of 0 or more, else
/// errno as a `SysError` naming `syscall`.
pub fn check(rc: c_int, syscall: &'static str) -> Result<()> {
    if rc < 0 {
        Err(SysError::last(syscall))
    } else {
        Ok(())
    }
}

/// Runs a -1-and-errno call again while a signal interrupts it (EINTR);
/// its result (a descriptor, a count), or its errno as a `SysError` naming
/// `syscall`.
pub fn retry<T: Copy + Default + PartialOrd>(syscall: &'static str, mut f: impl FnMut() -> T) -> Result<T> {
    loop {
        let rc = f();
        if rc >= T::default() {
            return Ok(rc);
        }
        let err = SysError::last(syscall);
        if err.errno != libc::EINTR {
            return Err(err);
        }
    }
}

/// Writes all of `buf` to `fd` (EIO should a write take nothing, which it
/// cannot for a regular file or a pipe).
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        let n = retry("write", || unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })?;
        if n == 0 {
            return Err(SysError::new(libc::EIO, "write"));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// mkdir(2) of one level, a directory already there being no error; true
/// when this call made it.
pub fn mkdir_if_missing(path: &Path, mode: u32) -> Result<bool> {
    let c = path_to_cstring(path, "mkdir")?;
    if unsafe { libc::mkdir(c.as_ptr(), mode) } == 0 {
        return Ok(true);
    }
    if errno() == libc::EEXIST {
        return Ok(false);
    }
    Err(SysError::last("mkdir").with_path(path))
}

/// Takes ownership of the new fd a libc call returned, or fails with its
/// errno, so the fd is closed on every path from here on.
///
/// # Safety
///
/// A non-negative `fd` must be open and owned by nobody else (freshly
/// returned by open, socket, fcntl(F_DUPFD_CLOEXEC)...): it is closed when
/// the `OwnedFd` drops.
pub unsafe fn owned_fd(fd: RawFd, syscall: &'static str) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(SysError::last(syscall));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A connected AF_UNIX SOCK_STREAM pair, both ends close-on-exec and
/// blocking: the kind of pipe Node's `net.Socket` and child stdio use.
pub fn stream_socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    check(
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) },
        "socketpair",
    )?;
    // socketpair just created both; nobody else has them.
    unsafe { Ok((owned_fd(fds[0], "socketpair")?, owned_fd(fds[1], "socketpair")?)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_syscall_path_and_strerror() {
        let err = SysError::new(libc::EINVAL, "mount").with_path("/x/merged");
        assert_eq!(
            err.to_string(),
            "mount /x/merged: Invalid argument (os error 22)"
        );
        assert_eq!(err.code(), "EINVAL");
    }

    #[test]
    fn detail_follows_strerror() {
        let err = SysError::new(libc::ENOENT, "fsconfig").with_detail("overlay: bad");
        assert_eq!(
            err.to_string(),
            "fsconfig: No such file or directory (os error 2): overlay: bad"
        );
    }

    #[test]
    fn errno_11_is_ewouldblock_only_for_flock() {
        assert_eq!(SysError::new(libc::EAGAIN, "flock").code(), "EWOULDBLOCK");
        assert_eq!(SysError::new(libc::EAGAIN, "read").code(), "EAGAIN");
    }

    #[test]
    fn nul_in_path_is_einval() {
        let err = path_to_cstring(Path::new("a\0b"), "open").unwrap_err();
        assert_eq!(err.errno, libc::EINVAL);
        assert_eq!(err.syscall, "open");
    }

    #[test]
    fn check_and_owned_fd_report_errno_on_failure() {
        let rc = unsafe { libc::close(-1) };
        assert_eq!(check(rc, "close"), Err(SysError::new(libc::EBADF, "close")));
        assert_eq!(errno(), libc::EBADF);
        assert_eq!(check(0, "close"), Ok(()));
        let err = unsafe { owned_fd(libc::fcntl(-1, libc::F_DUPFD_CLOEXEC, 0), "fcntl") }.unwrap_err();
        assert_eq!(err, SysError::new(libc::EBADF, "fcntl"));
    }

    #[test]
    fn stream_socketpair_is_connected_and_cloexec() {
        use std::os::unix::io::AsRawFd;
        let (a, b) = stream_socketpair().unwrap();
        for fd in [&a, &b] {
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        }
        assert_eq!(unsafe { libc::write(a.as_raw_fd(), b"x".as_ptr().cast(), 1) }, 1);
        let mut buf = [0u8; 1];
        assert_eq!(unsafe { libc::read(b.as_raw_fd(), buf.as_mut_ptr().cast(), 1) }, 1);
        assert_eq!(&buf, b"x");
    }
}
