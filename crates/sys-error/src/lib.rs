//! `SysError`: a failed system call, described the way Node describes its own
//! system errors (errno, code, syscall, path) so the addon can hand it to
//! JavaScript unchanged. Every skiff crate that talks to the kernel returns
//! this type; there is deliberately no other error type.

mod errno;

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
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
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        SysError::new(errno, syscall)
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
}
