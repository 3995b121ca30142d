//! Port-forward's dial: a TCP connection to the loopback of a pod's
//! network namespace.
//!
//! setns(2) changes only the calling thread, so the dial happens on a
//! short-lived thread of its own: it joins the namespace, connects, and
//! exits. The socket stays in the namespace it was created in, so the
//! caller can use it from any thread; no thread of the caller ever changes
//! namespace.

use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sys_error::{errno, owned_fd, path_to_cstring, Result, SysError};

/// Connects to 127.0.0.1:`port`, then [::1]:`port` if that is refused,
/// inside the network namespace pinned at `netns` (None: the host's).
/// A refused port fails with ECONNREFUSED (syscall "connect"), a silent
/// one with ETIMEDOUT after `timeout`.
pub fn dial_loopback(netns: Option<&Path>, port: u16, timeout: Duration) -> Result<OwnedFd> {
    let netns: Option<PathBuf> = netns.map(Path::to_path_buf);
    std::thread::Builder::new()
        .name("skiff:netdial".to_string())
        .spawn(move || {
            if let Some(path) = &netns {
                enter_netns(path)?;
            }
            dial(port, timeout)
        })
        .map_err(|e| SysError::new(e.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create"))?
        .join()
        .unwrap_or_else(|_| Err(SysError::new(libc::EIO, "connect").with_detail("dialling thread panicked")))
}

fn enter_netns(path: &Path) -> Result<()> {
    let cpath = path_to_cstring(path, "open")?;
    let fd = unsafe { owned_fd(libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC), "open") }
        .map_err(|e| e.with_path(path))?;
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        return Err(SysError::last("setns").with_path(path));
    }
    Ok(())
}

fn dial(port: u16, timeout: Duration) -> Result<OwnedFd> {
    let deadline = Instant::now() + timeout;
    match connect_v4(port, deadline) {
        Ok(fd) => Ok(fd),
        Err(v4) if v4.errno == libc::ECONNREFUSED => connect_v6(port, deadline).map_err(|_| v4),
        Err(e) => Err(e),
    }
}

fn connect_v4(port: u16, deadline: Instant) -> Result<OwnedFd> {
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = port.to_be();
    addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    connect(libc::AF_INET, (&addr as *const libc::sockaddr_in).cast(), std::mem::size_of_val(&addr), deadline)
        .map_err(|e| e.with_detail(format!("127.0.0.1:{}", port)))
}

fn connect_v6(port: u16, deadline: Instant) -> Result<OwnedFd> {
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_port = port.to_be();
    addr.sin6_addr.s6_addr[15] = 1;
    connect(libc::AF_INET6, (&addr as *const libc::sockaddr_in6).cast(), std::mem::size_of_val(&addr), deadline)
        .map_err(|e| e.with_detail(format!("[::1]:{}", port)))
}

/// A non-blocking connect bounded by `deadline`; the socket is returned
/// non-blocking, as an event loop wants it.
fn connect(family: libc::c_int, addr: *const libc::sockaddr, len: usize, deadline: Instant) -> Result<OwnedFd> {
    let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    let sock = unsafe { owned_fd(libc::socket(family, flags, 0), "socket") }?;
    let fd = sock.as_raw_fd();
    if unsafe { libc::connect(fd, addr, len as libc::socklen_t) } == 0 {
        return Ok(sock);
    }
    let err = SysError::last("connect");
    if err.errno != libc::EINPROGRESS && err.errno != libc::EINTR {
        return Err(err);
    }
    wait_writable(fd, deadline)?;
    let mut so_error: libc::c_int = 0;
    let mut so_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    if unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, (&mut so_error as *mut libc::c_int).cast(), &mut so_len) } < 0 {
        return Err(SysError::last("getsockopt"));
    }
    if so_error != 0 {
        return Err(SysError::new(so_error, "connect"));
    }
    Ok(sock)
}

fn wait_writable(fd: RawFd, deadline: Instant) -> Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SysError::new(libc::ETIMEDOUT, "connect"));
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
        let ms = left.as_millis().min(i32::MAX as u128).max(1) as libc::c_int;
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 {
            return Ok(());
        }
        if rc < 0 && errno() != libc::EINTR {
            return Err(SysError::last("poll"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn connects_on_the_host_loopback_and_refused_ports_say_so() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fd = dial_loopback(None, port, Duration::from_secs(5)).unwrap();
        let mut client = TcpStream::from(fd);
        client.set_nonblocking(false).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        drop(listener);
        drop(server);

        let err = dial_loopback(None, port, Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.code(), "ECONNREFUSED");
        assert_eq!(err.syscall, "connect");
    }

    #[test]
    fn a_missing_namespace_file_is_enoent_from_open() {
        let err = dial_loopback(Some(Path::new("/nonexistent/netns")), 80, Duration::from_secs(1)).unwrap_err();
        assert_eq!((err.code(), err.syscall), ("ENOENT", "open"));
    }
}
