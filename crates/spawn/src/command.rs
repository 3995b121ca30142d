//! What to run: program, arguments, environment, directory and fds.

use std::ffi::CString;
use std::os::raw::c_char;
use std::os::unix::io::RawFd;
use std::path::PathBuf;
use std::ptr;

use sys_error::{Result, SysError};

/// What one of the child's fds is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// /dev/null, opened read-write.
    Null,
    /// One end of a new SOCK_STREAM socketpair; the other end is returned
    /// in [`Child::pipes`](crate::Child) (blocking, close-on-exec). A
    /// socket rather than a pipe so that either side can shut down its
    /// writing half and still read.
    Pipe,
    /// A [`Pipe`](Stdio::Pipe) for a child that waits to be told to go
    /// (conmon's start pipe). One byte sent from the child's end is left
    /// unread in ours, so that if ours closes before we write anything,
    /// the child's read fails with ECONNRESET instead of returning EOF: a
    /// child that takes EOF for "go" stops instead of going on after our
    /// death. Whatever we write is read normally.
    StartPipe,
    /// A duplicate of this fd of the caller's, which keeps its own.
    Fd(RawFd),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Run as is, with no PATH search; also the child's argv[0]. A
    /// relative path is resolved in `cwd`.
    pub program: PathBuf,
    /// argv[1..].
    pub args: Vec<String>,
    /// The child's whole environment, as "KEY=value" entries.
    pub env: Vec<String>,
    /// The child's working directory; None: the caller's.
    pub cwd: Option<PathBuf>,
    /// Slot i becomes the child's fd i; the child has no other fd.
    pub stdio: Vec<Stdio>,
    /// Whether the child leads a new session (setsid), e.g. so that no
    /// terminal signal of the caller's reaches it.
    pub new_session: bool,
}

impl Command {
    /// `program` with no arguments, an empty environment, the caller's
    /// directory and /dev/null on fds 0-2.
    pub fn new(program: impl Into<PathBuf>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdio: vec![Stdio::Null; 3],
            new_session: false,
        }
    }
}

/// A NULL-terminated array of C strings, as argv and envp are.
pub(crate) struct CStringArray {
    // Owns the bytes `ptrs` points into; a CString's buffer does not move
    // when the CString does.
    _strings: Vec<CString>,
    ptrs: Vec<*mut c_char>,
}

impl CStringArray {
    /// `what` names the list in the EINVAL an interior NUL gets.
    pub(crate) fn new<I, S>(items: I, what: &str) -> Result<CStringArray>
    where
        I: IntoIterator<Item = S>,
        S: Into<Vec<u8>>,
    {
        let strings = items
            .into_iter()
            .map(|s| {
                CString::new(s).map_err(|_| {
                    SysError::new(libc::EINVAL, "posix_spawn")
                        .with_detail(format!("{} contains a NUL byte", what))
                })
            })
            .collect::<Result<Vec<CString>>>()?;
        let mut ptrs: Vec<*mut c_char> = strings.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        ptrs.push(ptr::null_mut());
        Ok(CStringArray { _strings: strings, ptrs })
    }

    pub(crate) fn as_ptr(&self) -> *const *mut c_char {
        self.ptrs.as_ptr()
    }
}
