//! posix_spawn of a [`Command`].

use std::os::raw::c_int;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};

use sys_error::{owned_fd, path_to_cstring, stream_socketpair, write_all, Result, SysError};

use crate::actions::{FileActions, SpawnAttr};
use crate::command::{CStringArray, Command, Stdio};

/// A started child. Nothing here waits for or reaps it: see
/// [`wait_exit`](crate::wait_exit) and [`reap`](crate::reap).
#[derive(Debug)]
pub struct Child {
    pub pid: libc::pid_t,
    /// One per stdio slot: the caller's end of each [`Stdio::Pipe`], None
    /// for the other slots.
    pub pipes: Vec<Option<OwnedFd>>,
}

/// Starts `cmd` with posix_spawn. The child has exactly the fds of
/// `cmd.stdio`, an empty signal mask and default signal dispositions.
///
/// Fails with posix_spawn's own error (ENOENT, EACCES, ENOEXEC... and
/// whatever chdir to `cwd` met), syscall "posix_spawn" and the program's
/// path; EBADF (syscall "fcntl") for an [`Stdio::Fd`] that is not open.
pub fn spawn(cmd: &Command) -> Result<Child> {
    let program = path_to_cstring(&cmd.program, "posix_spawn")?;
    let argv = CStringArray::new(
        std::iter::once(cmd.program.as_os_str().as_bytes().to_vec())
            .chain(cmd.args.iter().map(|a| a.clone().into_bytes())),
        "an argument",
    )?;
    let envp = CStringArray::new(cmd.env.iter().map(|e| e.clone().into_bytes()), "an environment entry")?;
    let cwd = match &cmd.cwd {
        Some(dir) => Some(path_to_cstring(dir, "posix_spawn")?),
        None => None,
    };

    let slots = c_int::try_from(cmd.stdio.len())
        .map_err(|_| SysError::new(libc::EMFILE, "posix_spawn").with_detail("too many stdio slots"))?;
    let dev_null = if cmd.stdio.contains(&Stdio::Null) {
        Some(open_dev_null()?)
    } else {
        None
    };
    // What each slot is dup2'ed from in the child: a close-on-exec
    // duplicate numbered at or above the slot count, so that no source is
    // the target of an earlier slot's dup2 (Fd(1) into slot 2 while slot 1
    // gets a pipe), nor a low fd the caller happens to have free.
    let mut sources = Vec::with_capacity(cmd.stdio.len());
    let mut pipes = Vec::with_capacity(cmd.stdio.len());
    for (slot, stdio) in cmd.stdio.iter().enumerate() {
        let (source, pipe) = match *stdio {
            Stdio::Null => {
                // Opened above whenever a slot is Null.
                let null = dev_null.as_ref().map_or(-1, AsRawFd::as_raw_fd);
                (dup_above(null, slots)?, None)
            }
            Stdio::Pipe => {
                let (ours, theirs) = stream_socketpair()?;
                (dup_above(theirs.as_raw_fd(), slots)?, Some(ours))
            }
            Stdio::StartPipe => {
                let (ours, theirs) = stream_socketpair()?;
                // Unread in ours: the kernel resets theirs should ours close with it still there.
                write_all(theirs.as_raw_fd(), &[0])?;
                (dup_above(theirs.as_raw_fd(), slots)?, Some(ours))
            }
            Stdio::Fd(fd) => {
                let dup = dup_above(fd, slots).map_err(|e| e.with_detail(format!("stdio slot {}: fd {}", slot, fd)))?;
                (dup, None)
            }
        };
        sources.push(source);
        pipes.push(pipe);
    }
    drop(dev_null);

    let mut actions = FileActions::new()?;
    if let Some(dir) = &cwd {
        actions.chdir(dir)?;
    }
    for (slot, source) in sources.iter().enumerate() {
        actions.dup2(source.as_raw_fd(), slot as RawFd)?;
    }
    // Whatever else the caller has open, close-on-exec or not (a thread
    // may have created an fd without O_CLOEXEC just now), stays behind.
    actions.close_from(slots)?;
    let attr = SpawnAttr::clean(cmd.new_session)?;

    let mut pid: libc::pid_t = 0;
    let rc = unsafe {
        libc::posix_spawn(&mut pid, program.as_ptr(), actions.as_ptr(), attr.as_ptr(), argv.as_ptr(), envp.as_ptr())
    };
    // The child has its copies now (or never will).
    drop(sources);
    if rc != 0 {
        // glibc has already reaped the child that failed to exec.
        let err = SysError::new(rc, "posix_spawn").with_path(&cmd.program);
        // The error may be chdir's as much as exec's.
        return Err(match &cmd.cwd {
            Some(dir) => err.with_detail(format!("in {}", dir.display())),
            None => err,
        });
    }
    Ok(Child { pid, pipes })
}

/// A close-on-exec duplicate of `fd` numbered `min` or higher.
fn dup_above(fd: RawFd, min: c_int) -> Result<OwnedFd> {
    unsafe { owned_fd(libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min), "fcntl") }
}

fn open_dev_null() -> Result<OwnedFd> {
    unsafe { owned_fd(libc::open(b"/dev/null\0".as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC), "open") }
        .map_err(|e| e.with_path("/dev/null"))
}
