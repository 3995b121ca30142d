//! Owned posix_spawn file actions and attributes. Their functions return
//! an error number rather than setting errno.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int, c_short};
use std::os::unix::io::RawFd;

use sys_error::{Result, SysError};

// glibc has both (2.29 and 2.34); the libc crate we build with has neither.
extern "C" {
    fn posix_spawn_file_actions_addchdir_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        path: *const c_char,
    ) -> c_int;
    fn posix_spawn_file_actions_addclosefrom_np(
        actions: *mut libc::posix_spawn_file_actions_t,
        from: c_int,
    ) -> c_int;
}

fn check(rc: c_int, call: &'static str) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SysError::new(rc, call))
    }
}

/// What the child does, in order, between clone and exec.
pub(crate) struct FileActions {
    raw: libc::posix_spawn_file_actions_t,
}

impl FileActions {
    pub(crate) fn new() -> Result<FileActions> {
        let mut raw = MaybeUninit::uninit();
        check(unsafe { libc::posix_spawn_file_actions_init(raw.as_mut_ptr()) }, "posix_spawn_file_actions_init")?;
        // Initialised just above; it holds no pointer into itself, so it
        // may move.
        Ok(FileActions { raw: unsafe { raw.assume_init() } })
    }

    /// chdir(path); glibc keeps a copy of `path`.
    pub(crate) fn chdir(&mut self, path: &CStr) -> Result<()> {
        check(
            unsafe { posix_spawn_file_actions_addchdir_np(&mut self.raw, path.as_ptr()) },
            "posix_spawn_file_actions_addchdir_np",
        )
    }

    /// dup2(from, to), which leaves `to` open across exec.
    pub(crate) fn dup2(&mut self, from: RawFd, to: RawFd) -> Result<()> {
        check(
            unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.raw, from, to) },
            "posix_spawn_file_actions_adddup2",
        )
    }

    /// Closes every fd from `from` up.
    pub(crate) fn close_from(&mut self, from: RawFd) -> Result<()> {
        check(
            unsafe { posix_spawn_file_actions_addclosefrom_np(&mut self.raw, from) },
            "posix_spawn_file_actions_addclosefrom_np",
        )
    }

    pub(crate) fn as_ptr(&self) -> *const libc::posix_spawn_file_actions_t {
        &self.raw
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.raw) };
    }
}

/// The child's signal state and session.
pub(crate) struct SpawnAttr {
    raw: libc::posix_spawnattr_t,
}

impl SpawnAttr {
    /// Attributes that give the child an empty signal mask and every
    /// signal's default disposition: the caller's thread may block
    /// signals, and Node and Rust both ignore SIGPIPE, which exec would
    /// otherwise pass on. `new_session` adds setsid().
    pub(crate) fn clean(new_session: bool) -> Result<SpawnAttr> {
        let mut raw = MaybeUninit::uninit();
        check(unsafe { libc::posix_spawnattr_init(raw.as_mut_ptr()) }, "posix_spawnattr_init")?;
        // Initialised just above; like the file actions, free to move.
        let mut attr = SpawnAttr { raw: unsafe { raw.assume_init() } };

        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        check(
            unsafe { libc::posix_spawnattr_setsigmask(&mut attr.raw, set.as_ptr()) },
            "posix_spawnattr_setsigmask",
        )?;
        // Every bit set, rather than sigfillset(): glibc's full set leaves
        // out its internal signals 32 and 33 (thread cancellation, setxid),
        // and for those the spawned child sets SIG_IGN (its handlers live in
        // the memory it shares with us), which exec would then pass on to
        // the program. Named in this set, they get SIG_DFL instead; nobody
        // sends them to the child, whose signals stay blocked until exec.
        unsafe { std::ptr::write_bytes(set.as_mut_ptr(), 0xff, 1) };
        check(
            unsafe { libc::posix_spawnattr_setsigdefault(&mut attr.raw, set.as_ptr()) },
            "posix_spawnattr_setsigdefault",
        )?;

        let mut flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        if new_session {
            flags |= libc::POSIX_SPAWN_SETSID;
        }
        check(
            unsafe { libc::posix_spawnattr_setflags(&mut attr.raw, flags as c_short) },
            "posix_spawnattr_setflags",
        )?;
        Ok(attr)
    }

    pub(crate) fn as_ptr(&self) -> *const libc::posix_spawnattr_t {
        &self.raw
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        unsafe { libc::posix_spawnattr_destroy(&mut self.raw) };
    }
}
