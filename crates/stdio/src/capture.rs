//! Bounded capture of a command's output (ExecSync): pipes whose write
//! ends go to the command, read to the end on a thread of their own. One
//! byte budget covers all of them; what does not fit is read into a fixed
//! scratch buffer and dropped, so memory stays at the budget however much
//! the command prints, and the command never blocks on a full pipe.

use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};

use sys_error::{check, errno, owned_fd, Result, SysError};

use crate::fd::set_nonblocking;

pub struct Captured {
    /// One per pipe, in order.
    pub outputs: Vec<Vec<u8>>,
    /// Bytes read beyond the budget.
    pub dropped: u64,
}

/// The pipes of one capture: give `writers` to the command (and close
/// yours), run [`Capture::run`] on a thread of its own, and close `cancel`
/// to make it stop early with what it has (a command whose output is held
/// open by a process that escaped a kill).
pub struct Capture {
    readers: Vec<OwnedFd>,
    cancelled: OwnedFd,
    max: usize,
}

pub struct CapturePipes {
    pub capture: Capture,
    pub writers: Vec<OwnedFd>,
    pub cancel: OwnedFd,
}

pub fn capture_pipes(count: usize, max_bytes: usize) -> Result<CapturePipes> {
    let mut readers = Vec::with_capacity(count);
    let mut writers = Vec::with_capacity(count);
    for _ in 0..count {
        let (r, w) = pipe()?;
        set_nonblocking(r.as_raw_fd())?;
        readers.push(r);
        writers.push(w);
    }
    let (cancelled, cancel) = pipe()?;
    Ok(CapturePipes {
        capture: Capture { readers, cancelled, max: max_bytes },
        writers,
        cancel,
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, "pipe2")?;
    // pipe2 just created both; nobody else has them.
    unsafe { Ok((owned_fd(fds[0], "pipe2")?, owned_fd(fds[1], "pipe2")?)) }
}

impl Capture {
    /// Reads every pipe to end of file (or until cancelled).
    pub fn run(self) -> Result<Captured> {
        let mut outputs: Vec<Vec<u8>> = self.readers.iter().map(|_| Vec::new()).collect();
        let mut open: Vec<bool> = self.readers.iter().map(|_| true).collect();
        let mut left = self.max;
        let mut dropped = 0u64;
        let mut scratch = vec![0u8; 64 * 1024];
        while open.iter().any(|&o| o) {
            let mut fds: Vec<libc::pollfd> = self
                .readers
                .iter()
                .zip(&open)
                .map(|(fd, &o)| libc::pollfd { fd: if o { fd.as_raw_fd() } else { -1 }, events: libc::POLLIN, revents: 0 })
                .collect();
            fds.push(libc::pollfd { fd: self.cancelled.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(SysError::last("poll"));
            }
            if fds.last().map_or(false, |c| c.revents != 0) {
                break;
            }
            for (i, pfd) in fds[..self.readers.len()].iter().enumerate() {
                if pfd.revents == 0 {
                    continue;
                }
                // Drain what is there now; a full budget only changes where bytes go.
                loop {
                    match read(pfd.fd, &mut scratch) {
                        Some(0) | None => {
                            open[i] = false;
                            break;
                        }
                        Some(n) if n < 0 => break,
                        Some(n) => {
                            let n = n as usize;
                            let keep = n.min(left);
                            outputs[i].extend_from_slice(&scratch[..keep]);
                            left -= keep;
                            dropped += (n - keep) as u64;
                        }
                    }
                }
            }
        }
        Ok(Captured { outputs, dropped })
    }
}

/// Some(n) bytes read, Some(-1) for "nothing now", None for a dead pipe.
fn read(fd: RawFd, buf: &mut [u8]) -> Option<isize> {
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n >= 0 {
        return Some(n);
    }
    match errno() {
        libc::EAGAIN | libc::EINTR => Some(-1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn keeps_the_budget_across_pipes_and_drops_the_rest() {
        let CapturePipes { capture, writers, cancel } = capture_pipes(2, 10).unwrap();
        let reader = std::thread::spawn(move || capture.run().unwrap());
        let mut out = std::fs::File::from(writers.into_iter().next().unwrap());
        out.write_all(b"0123456").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        out.write_all(&vec![b'x'; 1 << 20]).unwrap();
        drop(out);
        // The second writer was dropped with the iterator: its pipe is at EOF.
        let got = reader.join().unwrap();
        assert_eq!(got.outputs[0], b"0123456xxx");
        assert!(got.outputs[1].is_empty());
        assert_eq!(got.dropped, (1 << 20) - 3);
        drop(cancel);
    }

    #[test]
    fn closing_cancel_stops_a_capture_whose_writer_never_closes() {
        let CapturePipes { capture, writers, cancel } = capture_pipes(1, 100).unwrap();
        let reader = std::thread::spawn(move || capture.run().unwrap());
        let mut out = std::fs::File::from(writers.into_iter().next().unwrap());
        out.write_all(b"partial").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(cancel);
        let got = reader.join().unwrap();
        assert_eq!(got.outputs[0], b"partial");
        drop(out);
    }
}
