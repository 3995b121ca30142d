//! A relay thread between an fd Node cannot read (a pty master, a
//! SOCK_SEQPACKET socket) and one end of a SOCK_STREAM socketpair whose
//! other end JS wraps in a `net.Socket`.
//!
//! One buffer per direction, refilled only once it has been written out:
//! a slow reader on either side stops the relay reading from the other, so
//! memory stays bounded and backpressure reaches the producer. The thread
//! sleeps in poll(2) while nothing moves.

use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};

use sys_error::{errno, stream_socketpair, Result, SysError};

use crate::fd::set_nonblocking;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Bytes pass unchanged both ways (a terminal). The JS side ending its
    /// output does nothing to the target: a terminal has no half-close.
    Bytes,
    /// The target is a SOCK_SEQPACKET socket. Each packet it sends reaches
    /// JS as a 4-byte big-endian length and the packet; bytes from JS leave
    /// as packets of at most [`MAX_OUT_PACKET`] bytes; the JS side ending
    /// its output shuts down the target's write side.
    Packets,
}

/// conmon reads attach input 32 KiB at a time; smaller packets are never cut.
pub const MAX_OUT_PACKET: usize = 8192;
const BUF: usize = 64 * 1024;

/// Starts relaying `target` on a new thread; returns the stream socket for
/// JS. The relay ends, closing both, when the target reaches end of file
/// (after its last bytes are delivered) or when JS closes its socket.
pub fn spawn_relay(target: OwnedFd, framing: Framing) -> Result<OwnedFd> {
    let (ours, theirs) = stream_socketpair()?;
    set_nonblocking(ours.as_raw_fd())?;
    set_nonblocking(target.as_raw_fd())?;
    std::thread::Builder::new()
        .name("skiff:relay".to_string())
        .spawn(move || Relay::new(target, ours, framing).run())
        .map_err(|e| SysError::new(e.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create"))?;
    Ok(theirs)
}

/// Bytes waiting to be written, and how many of them already were.
struct Pending {
    buf: Vec<u8>,
    off: usize,
}

impl Pending {
    fn new() -> Pending {
        Pending { buf: Vec::with_capacity(BUF + 4), off: 0 }
    }
    fn is_empty(&self) -> bool {
        self.off >= self.buf.len()
    }
    fn clear(&mut self) {
        self.buf.clear();
        self.off = 0;
    }
    fn rest(&self) -> &[u8] {
        &self.buf[self.off..]
    }
}

enum Io {
    Done(usize),
    Again,
    /// End of file, or an error that ends this direction.
    Closed,
}

struct Relay {
    target: OwnedFd,
    js: OwnedFd,
    framing: Framing,
    /// target → JS
    down: Pending,
    /// JS → target
    up: Pending,
    target_readable: bool,
    target_writable: bool,
    js_readable: bool,
    scratch: Vec<u8>,
}

impl Relay {
    fn new(target: OwnedFd, js: OwnedFd, framing: Framing) -> Relay {
        Relay {
            target,
            js,
            framing,
            down: Pending::new(),
            up: Pending::new(),
            target_readable: true,
            target_writable: true,
            js_readable: true,
            scratch: vec![0u8; BUF],
        }
    }

    fn run(mut self) {
        loop {
            if !self.target_readable && self.down.is_empty() {
                // Everything the target said is delivered: JS sees end of file.
                unsafe { libc::shutdown(self.js.as_raw_fd(), libc::SHUT_WR) };
                return;
            }
            let mut t_events = 0;
            if self.target_readable && self.down.is_empty() {
                t_events |= libc::POLLIN;
            }
            if !self.up.is_empty() {
                t_events |= libc::POLLOUT;
            }
            let mut j_events = 0;
            if self.js_readable && self.up.is_empty() {
                j_events |= libc::POLLIN;
            }
            if !self.down.is_empty() {
                j_events |= libc::POLLOUT;
            }
            // A target we want nothing from is left out: its hang-up would
            // otherwise wake poll over and over. JS always stays in, since
            // its hang-up is how the relay learns to stop.
            let mut fds = [
                libc::pollfd { fd: if t_events == 0 { -1 } else { self.target.as_raw_fd() }, events: t_events, revents: 0 },
                libc::pollfd { fd: self.js.as_raw_fd(), events: j_events, revents: 0 },
            ];
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return;
            }
            let (tr, jr) = (fds[0].revents, fds[1].revents);
            let wake = libc::POLLHUP | libc::POLLERR;

            if jr & (libc::POLLOUT | wake) != 0 && !self.down.is_empty() {
                match send(self.js.as_raw_fd(), self.down.rest()) {
                    Io::Done(n) => self.down.off += n,
                    Io::Again => {}
                    Io::Closed => return,
                }
            }
            if tr & (libc::POLLOUT | wake) != 0 && !self.up.is_empty() {
                self.write_target();
            }
            if tr & (libc::POLLIN | wake) != 0 && self.target_readable && self.down.is_empty() {
                self.read_target();
            }
            if jr & (libc::POLLIN | wake) != 0 && self.js_readable && self.up.is_empty() {
                self.read_js();
            }
            // JS closed its socket altogether (not just its output).
            if jr & libc::POLLHUP != 0 && !self.js_readable {
                return;
            }
            if jr & libc::POLLERR != 0 {
                return;
            }
        }
    }

    fn read_target(&mut self) {
        let fd = self.target.as_raw_fd();
        let got = match self.framing {
            Framing::Bytes => read(fd, &mut self.scratch),
            Framing::Packets => recv(fd, &mut self.scratch),
        };
        match got {
            // conmon never sends an empty packet: zero bytes is its hang-up.
            Io::Done(0) | Io::Closed => self.target_readable = false,
            Io::Done(n) => {
                self.down.clear();
                if self.framing == Framing::Packets {
                    self.down.buf.extend_from_slice(&(n as u32).to_be_bytes());
                }
                self.down.buf.extend_from_slice(&self.scratch[..n]);
            }
            Io::Again => {}
        }
    }

    fn read_js(&mut self) {
        let max = match self.framing {
            Framing::Bytes => BUF,
            Framing::Packets => MAX_OUT_PACKET,
        };
        match read(self.js.as_raw_fd(), &mut self.scratch[..max]) {
            Io::Done(0) | Io::Closed => {
                self.js_readable = false;
                if self.framing == Framing::Packets && self.target_writable {
                    unsafe { libc::shutdown(self.target.as_raw_fd(), libc::SHUT_WR) };
                }
            }
            Io::Done(n) => {
                // Input for a target that can no longer take it is dropped.
                if self.target_writable {
                    self.up.clear();
                    self.up.buf.extend_from_slice(&self.scratch[..n]);
                }
            }
            Io::Again => {}
        }
    }

    fn write_target(&mut self) {
        let fd = self.target.as_raw_fd();
        let res = match self.framing {
            Framing::Bytes => write(fd, self.up.rest()),
            // A packet goes whole or not at all.
            Framing::Packets => send(fd, self.up.rest()),
        };
        match res {
            Io::Done(n) => self.up.off += n,
            Io::Again => {}
            Io::Closed => {
                self.target_writable = false;
                self.up.clear();
            }
        }
    }
}

fn outcome(n: isize) -> Io {
    if n >= 0 {
        return Io::Done(n as usize);
    }
    match errno() {
        libc::EAGAIN | libc::EINTR => Io::Again,
        // EIO: a pty master whose slave side is all closed.
        _ => Io::Closed,
    }
}

fn read(fd: RawFd, buf: &mut [u8]) -> Io {
    outcome(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

fn recv(fd: RawFd, buf: &mut [u8]) -> Io {
    outcome(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

fn write(fd: RawFd, buf: &[u8]) -> Io {
    outcome(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// MSG_NOSIGNAL: a vanished peer is an error here, never a SIGPIPE.
fn send(fd: RawFd, buf: &[u8]) -> Io {
    outcome(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::os::unix::io::FromRawFd;

    fn pair(kind: libc::c_int) -> (OwnedFd, OwnedFd) {
        let mut fds = [-1; 2];
        assert_eq!(unsafe { libc::socketpair(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) }, 0);
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[test]
    fn packets_are_framed_input_is_packetised_and_eof_travels_both_ways() {
        let (target, conmon) = pair(libc::SOCK_SEQPACKET);
        let js = spawn_relay(target, Framing::Packets).unwrap();
        let mut js = UnixStream::from(js);
        let conmon = UnixStream::from(conmon);

        // conmon → JS: two packets arrive length-prefixed, in order.
        (&conmon).write_all(b"\x02hello").unwrap();
        (&conmon).write_all(b"\x03err").unwrap();
        let mut got = [0u8; 18];
        js.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\0\0\0\x06\x02hello\0\0\0\x04\x03err");

        // JS → conmon: 20000 bytes become packets of at most 8192.
        js.write_all(&vec![b'x'; 20000]).unwrap();
        let mut total = 0;
        let mut buf = [0u8; 65536];
        while total < 20000 {
            let n = (&conmon).read(&mut buf).unwrap();
            assert!(n > 0 && n <= MAX_OUT_PACKET, "packet of {}", n);
            total += n;
        }
        // JS ending its output shuts the target's write side.
        js.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!((&conmon).read(&mut buf).unwrap(), 0);
        // conmon hanging up ends JS's input.
        drop(conmon);
        let mut rest = Vec::new();
        js.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn a_slow_reader_holds_back_the_target_and_js_closing_ends_the_relay() {
        let (target, peer) = pair(libc::SOCK_STREAM);
        let js = spawn_relay(target, Framing::Bytes).unwrap();
        let peer = UnixStream::from(peer);
        peer.set_nonblocking(true).unwrap();
        // Nobody reads JS's side: the peer can only get so far ahead.
        let chunk = vec![0u8; 65536];
        let mut written = 0usize;
        for _ in 0..1000 {
            match (&peer).write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        assert!(written < 8 * 1024 * 1024, "relay buffered {} bytes", written);
        // JS goes away: the relay closes the target, so the peer sees EOF
        // (or a reset, for the bytes it wrote that nobody read).
        drop(js);
        peer.set_nonblocking(false).unwrap();
        let mut sink = Vec::new();
        match (&peer).read_to_end(&mut sink) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET)),
        }
    }
}
