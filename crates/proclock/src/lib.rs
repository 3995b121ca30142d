//! Single-instance locks: a daemon holds an exclusive flock(2) on a file for
//! as long as it lives, so a second daemon on the same root or socket fails
//! fast. flock locks belong to the open file description, so they vanish
//! when the process dies; there is no stale-lock cleanup to get wrong.

use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use sys_error::{path_to_cstring, Result, SysError};

/// Opens (creating with mode 0600) `path` and takes a non-blocking exclusive
/// flock on it. Keep the returned fd open for as long as the lock must be
/// held. When another open file description holds the lock this fails with
/// errno EWOULDBLOCK, syscall "flock".
pub fn lock_exclusive(path: &Path) -> Result<OwnedFd> {
    let cpath = path_to_cstring(path, "open")?;
    // O_CLOEXEC: children (container shims, hooks) must not keep the lock.
    // O_NOFOLLOW: nobody gets to redirect the lock file elsewhere.
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let fd = loop {
        let fd = unsafe { libc::open(cpath.as_ptr(), flags, 0o600 as libc::c_uint) };
        if fd >= 0 {
            break unsafe { OwnedFd::from_raw_fd(fd) };
        }
        let err = SysError::last("open");
        if err.errno != libc::EINTR {
            return Err(err.with_path(path));
        }
    };
    loop {
        if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(fd);
        }
        let err = SysError::last("flock");
        if err.errno != libc::EINTR {
            return Err(err.with_path(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("proclock-{}-{}", std::process::id(), name));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn second_lock_on_same_file_fails_with_ewouldblock() {
        let dir = scratch("contend");
        let path = dir.join("skiff.lock");
        let held = lock_exclusive(&path).unwrap();

        let err = lock_exclusive(&path).unwrap_err();
        assert_eq!(err.errno, libc::EWOULDBLOCK);
        assert_eq!(err.code(), "EWOULDBLOCK");
        assert_eq!(err.syscall, "flock");
        assert_eq!(err.path.as_deref(), Some(path.as_path()));

        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // Releasing the first holder frees the lock for the next one.
        drop(held);
        let again = lock_exclusive(&path).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_parent_reports_open_enoent() {
        let path = scratch("missing").join("no/such/dir/skiff.lock");
        let err = lock_exclusive(&path).unwrap_err();
        assert_eq!(err.syscall, "open");
        assert_eq!(err.code(), "ENOENT");
        std::fs::remove_dir_all(scratch("missing")).unwrap();
    }
}
