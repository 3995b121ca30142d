//! Connecting to conmon's attach socket (AF_UNIX, SOCK_SEQPACKET).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::Path;

use sys_error::{owned_fd, path_to_cstring, Result, SysError};

/// Connects a SOCK_SEQPACKET socket to the unix socket at `path`. A path
/// longer than sun_path allows is reached through its directory's
/// /proc/self/fd entry, as conmon itself binds it.
pub fn connect_seqpacket(path: &Path) -> Result<OwnedFd> {
    let sock =
        unsafe { owned_fd(libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0), "socket") }?;
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;

    let direct = path.as_os_str().as_bytes();
    // Keeps the directory open while its /proc path is in use.
    let mut _dir: Option<OwnedFd> = None;
    let short;
    let name: &[u8] = if direct.len() < addr.sun_path.len() {
        direct
    } else {
        let (parent, file) = match (path.parent(), path.file_name()) {
            (Some(p), Some(f)) => (p, f),
            _ => return Err(SysError::new(libc::ENAMETOOLONG, "connect").with_path(path)),
        };
        let cparent = path_to_cstring(parent, "open")?;
        let dir = unsafe {
            owned_fd(libc::open(cparent.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC), "open")
        }
        .map_err(|e| e.with_path(parent))?;
        short = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), OsStr::to_string_lossy(file));
        _dir = Some(dir);
        short.as_bytes()
    };
    if name.len() >= addr.sun_path.len() || name.contains(&0) {
        return Err(SysError::new(libc::ENAMETOOLONG, "connect").with_path(path));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + name.len() + 1;
    loop {
        let rc = unsafe {
            libc::connect(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len as libc::socklen_t,
            )
        };
        if rc == 0 {
            return Ok(sock);
        }
        let err = SysError::last("connect");
        if err.errno != libc::EINTR {
            return Err(err.with_path(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_connect_through_proc_and_missing_ones_say_enoent() {
        let base = std::env::temp_dir().join(format!("stdio-seq-{}-{}", std::process::id(), "x".repeat(100)));
        std::fs::create_dir_all(&base).unwrap();
        let path = base.join("attach");
        let listener =
            unsafe { owned_fd(libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0), "socket") }
                .unwrap();
        // Bind through the same /proc trick the code under test uses.
        let dir = std::fs::File::open(&base).unwrap();
        let short = format!("/proc/self/fd/{}/attach", dir.as_raw_fd());
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(short.as_bytes()) {
            *d = *s as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + short.len() + 1) as libc::socklen_t;
        assert_eq!(unsafe { libc::bind(listener.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) }, 0);
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 1) }, 0);

        assert!(path.as_os_str().len() > 108);
        let conn = connect_seqpacket(&path).unwrap();
        drop(conn);
        let err = connect_seqpacket(&base.join("nothing")).unwrap_err();
        assert_eq!(err.code(), "ENOENT");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
