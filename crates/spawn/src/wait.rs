//! Learning of a child's exit without reaping it, and reaping it later.

use std::mem;

use sys_error::{Result, SysError};

/// How a child ended: exactly one of the two is Some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal number, when a signal killed it.
    pub signal: Option<i32>,
}

impl ExitStatus {
    fn from_wait_status(status: libc::c_int) -> ExitStatus {
        if libc::WIFSIGNALED(status) {
            ExitStatus { code: None, signal: Some(libc::WTERMSIG(status)) }
        } else {
            ExitStatus { code: Some(libc::WEXITSTATUS(status)), signal: None }
        }
    }
}

/// Blocks until child `pid` has exited, leaving it a zombie for [`reap`].
pub fn wait_exit(pid: libc::pid_t) -> Result<()> {
    check_pid(pid, "waitid")?;
    loop {
        // Zeroed: siginfo_t is plain data, and only the return value is read.
        let mut info: libc::siginfo_t = unsafe { mem::zeroed() };
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 {
            return Ok(());
        }
        let err = SysError::last("waitid");
        if err.errno != libc::EINTR {
            return Err(err.with_detail(format!("pid {}", pid)));
        }
    }
}

/// Collects the status of child `pid`, which must have exited (see
/// [`wait_exit`]); never blocks. EAGAIN (syscall "waitpid") while it is
/// still running, ECHILD once reaped or when it is not our child.
pub fn reap(pid: libc::pid_t) -> Result<ExitStatus> {
    check_pid(pid, "waitpid")?;
    loop {
        let mut status: libc::c_int = 0;
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            return Ok(ExitStatus::from_wait_status(status));
        }
        if rc == 0 {
            return Err(SysError::new(libc::EAGAIN, "waitpid").with_detail(format!("pid {} has not exited", pid)));
        }
        let err = SysError::last("waitpid");
        if err.errno != libc::EINTR {
            return Err(err.with_detail(format!("pid {}", pid)));
        }
    }
}

/// waitpid(0) or waitpid(-1) would reap some other child of the daemon.
pub(crate) fn check_pid(pid: libc::pid_t, syscall: &'static str) -> Result<()> {
    if pid <= 0 {
        return Err(SysError::new(libc::EINVAL, syscall).with_detail(format!("pid {}", pid)));
    }
    Ok(())
}
