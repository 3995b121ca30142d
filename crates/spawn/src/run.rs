//! [`run`]: a short-lived program run to the end on the calling thread:
//! its input written, its output collected, its time bounded, and it
//! reaped, all in one poll loop.
//!
//! One thread and one loop rather than a thread that spawns, another that
//! waits and event-loop callbacks for each stream: every hand-over is a
//! wake-up of some thread, and on an idle machine each one has its price.

use std::os::raw::c_int;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use sys_error::{errno, Result, SysError};

use crate::command::{Command, Stdio};
use crate::exit_watch::pidfd_open;
use crate::spawn::spawn;
use crate::wait::{reap, wait_exit, ExitStatus};

/// How long output is still read once the child has exited: a grandchild
/// may hold stdout or stderr open (a process the child left running in the
/// background), and must not hold the run.
const GRACE: Duration = Duration::from_secs(1);
/// Without a pidfd, how often the child is checked for an exit.
const FALLBACK_POLL: Duration = Duration::from_millis(10);
const CHUNK: usize = 64 * 1024;
/// Reads of one stream per wake-up, so that a child printing as fast as
/// we read cannot keep the loop from its deadline.
const READS_PER_WAKE: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// From the start; then the child gets SIGKILL.
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each; the rest is read and
    /// dropped, so the child never blocks on a full pipe.
    pub max_output: usize,
    /// Written to the child's stdin, which is then closed; None: stdin is
    /// /dev/null.
    pub input: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes beyond `max_output`, both streams together.
    pub dropped: u64,
    /// The same per stream, so that each can say it was cut short.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    /// Whether the timeout passed and the child was killed.
    pub timed_out: bool,
}

/// Runs `cmd` to the end. Its stdio slots 0-2 are replaced: stdin is
/// /dev/null or a socket fed `opts.input`, stdout and stderr are sockets
/// (stream socketpairs, as Node's own child pipes are); further slots
/// stay as given.
///
/// Returns once the child has exited and been reaped and both outputs
/// reached end of file, or [`GRACE`] (1 s) after the exit, whichever is
/// first. A child that exits without reading all its input is no error.
///
/// Fails only with what [`spawn`] fails with (nothing was started), or
/// when the loop itself fails (poll, recv, send, waitpid); then the child
/// is killed and reaped before the error is returned.
pub fn run(cmd: &Command, opts: &RunOptions) -> Result<RunResult> {
    run_with(cmd, opts, true)
}

/// `use_pidfd` false forces the path for kernels without pidfd_open.
fn run_with(cmd: &Command, opts: &RunOptions, use_pidfd: bool) -> Result<RunResult> {
    let mut cmd = cmd.clone();
    if cmd.stdio.len() < 3 {
        cmd.stdio.resize(3, Stdio::Null);
    }
    cmd.stdio[0] = if opts.input.is_some() { Stdio::Pipe } else { Stdio::Null };
    cmd.stdio[1] = Stdio::Pipe;
    cmd.stdio[2] = Stdio::Pipe;
    let mut child = spawn(&cmd)?;
    let pid = child.pid;
    // Any failure: we fall back on polling for the exit.
    let pidfd = if use_pidfd { pidfd_open(pid).ok() } else { None };

    let input = Input { fd: child.pipes[0].take(), data: opts.input.as_deref().unwrap_or(&[]), written: 0 };
    let outputs = [Output::new(child.pipes[1].take()), Output::new(child.pipes[2].take())];
    let mut run = Run { pid, pidfd, input, outputs, max: opts.max_output, status: None, timed_out: false, group: cmd.new_session };
    match run.supervise(opts.timeout) {
        Ok(status) => {
            let [out, err] = run.outputs;
            Ok(RunResult {
                status,
                dropped: out.dropped + err.dropped,
                stdout_dropped: out.dropped,
                stderr_dropped: err.dropped,
                stdout: out.kept,
                stderr: err.kept,
                timed_out: run.timed_out,
            })
        }
        Err(err) => {
            if run.status.is_none() {
                kill_and_reap(pid);
            }
            Err(err)
        }
    }
}

struct Run<'a> {
    pid: libc::pid_t,
    /// None: pidfd_open is missing (kernel < 5.3) or failed.
    pidfd: Option<OwnedFd>,
    input: Input<'a>,
    outputs: [Output; 2],
    max: usize,
    /// Some once the child has been reaped.
    status: Option<ExitStatus>,
    timed_out: bool,
    /// The child leads its own process group (Command::new_session): the
    /// timeout kills the group, with whatever the child started.
    group: bool,
}

impl Run<'_> {
    fn supervise(&mut self, timeout: Duration) -> Result<ExitStatus> {
        // Small inputs fit the socket's buffer: written before the first
        // wait, stdin is closed at once.
        self.input.write_some()?;
        let deadline = Instant::now().checked_add(timeout);
        let mut grace_end: Option<Instant> = None;
        let mut scratch = vec![0u8; CHUNK];
        loop {
            let now = Instant::now();
            if let Some(status) = self.status {
                let open = self.outputs.iter().any(|o| o.fd.is_some());
                if !open || grace_end.map_or(true, |end| now >= end) {
                    return Ok(status);
                }
            } else if !self.timed_out && deadline.map_or(false, |d| now >= d) {
                self.kill();
                self.timed_out = true;
            }

            let wake_at = match self.status {
                Some(_) => grace_end,
                None if self.timed_out => None,
                None => deadline,
            };
            let mut wait = wake_at.map(|t| t.saturating_duration_since(now));
            if self.status.is_none() && self.pidfd.is_none() {
                wait = Some(wait.map_or(FALLBACK_POLL, |w| w.min(FALLBACK_POLL)));
            }

            let waiting_for_exit = self.status.is_none();
            let mut fds = [
                pollfd(self.outputs[0].raw(), libc::POLLIN),
                pollfd(self.outputs[1].raw(), libc::POLLIN),
                pollfd(self.input.raw(), libc::POLLOUT),
                pollfd(if waiting_for_exit { self.pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd) } else { -1 }, libc::POLLIN),
            ];
            if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, poll_timeout(wait)) } < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(SysError::last("poll"));
            }

            for (output, pfd) in self.outputs.iter_mut().zip(&fds[..2]) {
                if pfd.revents != 0 {
                    output.read_some(self.max, &mut scratch)?;
                }
            }
            if fds[2].revents != 0 {
                self.input.write_some()?;
            }
            // Without a pidfd, every wake-up checks.
            if waiting_for_exit && (fds[3].revents != 0 || self.pidfd.is_none()) {
                match reap(self.pid) {
                    Ok(status) => {
                        self.status = Some(status);
                        grace_end = Instant::now().checked_add(GRACE);
                        // Nobody is left to read it.
                        self.input.fd = None;
                    }
                    Err(err) if err.errno == libc::EAGAIN => {}
                    Err(err) => return Err(err),
                }
            }
        }
    }

    /// SIGKILL, through the pidfd when there is one, and to the child's
    /// process group when it leads one. Only ever called before the reap,
    /// so the pid (and the group's id) is still the child's.
    fn kill(&self) {
        if self.group {
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        }
        match &self.pidfd {
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0 as libc::c_uint,
                );
            },
            None => unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            },
        }
    }
}

/// After a failure of the loop: a child still running is killed, and
/// reaped so it does not stay a zombie. One reaped already (ECHILD) is
/// left alone: its pid may be another process's by now.
fn kill_and_reap(pid: libc::pid_t) {
    match reap(pid) {
        Err(err) if err.errno == libc::EAGAIN => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            if wait_exit(pid).is_ok() {
                let _ = reap(pid);
            }
        }
        _ => {}
    }
}

/// One of stdout and stderr: the first `max` bytes, the rest counted.
struct Output {
    /// None once at end of file.
    fd: Option<OwnedFd>,
    kept: Vec<u8>,
    dropped: u64,
}

impl Output {
    fn new(fd: Option<OwnedFd>) -> Output {
        Output { fd, kept: Vec::new(), dropped: 0 }
    }

    fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Reads what is there now, up to READS_PER_WAKE chunks.
    fn read_some(&mut self, max: usize, scratch: &mut [u8]) -> Result<()> {
        let mut reads = 0;
        while reads < READS_PER_WAKE {
            let fd = match &self.fd {
                Some(fd) => fd.as_raw_fd(),
                None => return Ok(()),
            };
            let n = unsafe { libc::recv(fd, scratch.as_mut_ptr().cast(), scratch.len(), libc::MSG_DONTWAIT) };
            if n > 0 {
                let n = n as usize;
                let keep = n.min(max.saturating_sub(self.kept.len()));
                self.kept.extend_from_slice(&scratch[..keep]);
                self.dropped += (n - keep) as u64;
                reads += 1;
                continue;
            }
            if n == 0 {
                self.fd = None;
                return Ok(());
            }
            match errno() {
                libc::EINTR => {}
                libc::EAGAIN => return Ok(()),
                // The writer went away uncleanly: as good as end of file.
                libc::ECONNRESET => {
                    self.fd = None;
                    return Ok(());
                }
                e => return Err(SysError::new(e, "recv")),
            }
        }
        Ok(())
    }
}

/// stdin: `data` written without blocking, then closed.
struct Input<'a> {
    /// None once everything is written, or the child stopped reading.
    fd: Option<OwnedFd>,
    data: &'a [u8],
    written: usize,
}

impl Input<'_> {
    fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Writes until the socket is full; closes it once all is written.
    fn write_some(&mut self) -> Result<()> {
        while let Some(fd) = &self.fd {
            let rest = &self.data[self.written..];
            if rest.is_empty() {
                self.fd = None;
                break;
            }
            // MSG_NOSIGNAL: a child gone away is EPIPE here, never a
            // SIGPIPE for the whole process.
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            let n = unsafe { libc::send(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len(), flags) };
            if n >= 0 {
                self.written += n as usize;
                continue;
            }
            match errno() {
                libc::EINTR => {}
                libc::EAGAIN => break,
                // The child exited (or closed stdin) without reading it all.
                libc::EPIPE | libc::ECONNRESET => self.fd = None,
                e => return Err(SysError::new(e, "send")),
            }
        }
        Ok(())
    }
}


fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    // A negative fd is skipped by poll.
    libc::pollfd { fd, events, revents: 0 }
}

/// poll's timeout in ms, rounded up so as not to wake just short of a
/// deadline; None: no timeout.
fn poll_timeout(wait: Option<Duration>) -> c_int {
    match wait {
        None => -1,
        Some(w) => {
            let ms = (w.as_nanos() + 999_999) / 1_000_000;
            ms.min(c_int::MAX as u128) as c_int
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.args = vec!["-c".to_string(), script.to_string()];
        cmd.env = vec!["PATH=/usr/bin:/bin".to_string()];
        cmd
    }

    #[test]
    fn without_a_pidfd_the_exit_is_still_seen_and_the_timeout_kept() {
        let opts = RunOptions { timeout: Duration::from_secs(10), max_output: 1024, input: Some(b"in\n".to_vec()) };
        let got = run_with(&sh("cat; echo err >&2; exit 4"), &opts, false).unwrap();
        assert_eq!(got.status, ExitStatus { code: Some(4), signal: None });
        assert_eq!((got.stdout.as_slice(), got.stderr.as_slice()), (&b"in\n"[..], &b"err\n"[..]));

        // Closes its outputs but keeps running: only the exit check ends it.
        let opts = RunOptions { timeout: Duration::from_millis(200), max_output: 1024, input: None };
        let started = Instant::now();
        let got = run_with(&sh("exec sleep 10 >&- 2>&-"), &opts, false).unwrap();
        assert!(got.timed_out);
        assert_eq!(got.status, ExitStatus { code: None, signal: Some(libc::SIGKILL) });
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn poll_timeouts_round_up() {
        assert_eq!(poll_timeout(None), -1);
        assert_eq!(poll_timeout(Some(Duration::ZERO)), 0);
        assert_eq!(poll_timeout(Some(Duration::from_micros(1))), 1);
        assert_eq!(poll_timeout(Some(Duration::from_millis(1500))), 1500);
        assert_eq!(poll_timeout(Some(Duration::from_secs(u64::MAX))), c_int::MAX);
    }
}
