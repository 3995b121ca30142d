//! Pseudo-terminals for `exec --tty`.
//!
//! runc only hands a terminal's master over a console socket when it
//! detaches, and a detached exec's exit status is lost. So, as CRI-O does,
//! the runtime runs attached with a pty of ours as its stdio: it puts that
//! pty in raw mode, copies between it and the container's terminal, and on
//! SIGWINCH copies our pty's size to the container's.

use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};

use sys_error::{owned_fd, Result, SysError};

pub struct Pty {
    pub master: OwnedFd,
    /// Opened without becoming anyone's controlling terminal.
    pub slave: OwnedFd,
}

/// A new pty pair, both ends close-on-exec, the slave in raw mode so that
/// nothing typed is echoed or translated before the runtime takes over.
pub fn open_pty() -> Result<Pty> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let master = unsafe { owned_fd(libc::posix_openpt(flags), "posix_openpt") }?;
    let mut unlock: libc::c_int = 0;
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } < 0 {
        return Err(SysError::last("ioctl").with_detail("TIOCSPTLCK"));
    }
    // TIOCGPTPEER opens the slave through the master (no path lookup in
    // /dev/pts that another devpts mount could redirect).
    let slave = unsafe {
        owned_fd(
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ),
            "ioctl",
        )
    }
    .map_err(|e| e.with_detail("TIOCGPTPEER"))?;
    make_raw(slave.as_raw_fd())?;
    Ok(Pty { master, slave })
}

fn make_raw(fd: RawFd) -> Result<()> {
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
        return Err(SysError::last("tcgetattr"));
    }
    unsafe { libc::cfmakeraw(&mut t) };
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } < 0 {
        return Err(SysError::last("tcsetattr"));
    }
    Ok(())
}

/// TIOCSWINSZ on any end of a terminal.
pub fn set_window_size(fd: RawFd, columns: u16, rows: u16) -> Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) } < 0 {
        return Err(SysError::last("ioctl").with_detail("TIOCSWINSZ"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_unchanged_and_size_is_readable_from_the_slave() {
        let pty = open_pty().unwrap();
        set_window_size(pty.master.as_raw_fd(), 100, 40).unwrap();
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) }, 0);
        assert_eq!((ws.ws_col, ws.ws_row), (100, 40));

        // Raw: "\n" is not turned into "\r\n", input is not echoed.
        let out = b"a\nb";
        assert_eq!(unsafe { libc::write(pty.slave.as_raw_fd(), out.as_ptr().cast(), out.len()) }, 3);
        let mut buf = [0u8; 16];
        let n = unsafe { libc::read(pty.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(&buf[..n as usize], b"a\nb");
    }
}
