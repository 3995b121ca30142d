//! The few fd-relative syscalls the walk needs: fstatat, openat and
//! getdents64, behind types that close their fds and skip "." and "..".

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::unix::io::{AsRawFd, OwnedFd};

use sys_error::{owned_fd, Result, SysError};

/// The fields of struct stat the walk uses.
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub blocks: u64,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// lstat of `name`, relative to `dir` (or the cwd when None).
// The casts are no-ops on x86_64 but not elsewhere (st_nlink is u32 on
// aarch64, st_ino u32 on 32-bit targets).
#[allow(clippy::unnecessary_cast)]
pub fn stat_at(dir: Option<&DirFd>, name: &CStr) -> Result<Stat> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.fd.as_raw_fd());
    let mut st = MaybeUninit::<libc::stat>::uninit();
    let rc = unsafe {
        libc::fstatat(
            dirfd,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(SysError::last("fstatat"));
    }
    let st = unsafe { st.assume_init() };
    Ok(Stat {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        mode: st.st_mode as u32,
        nlink: st.st_nlink as u64,
        blocks: st.st_blocks as u64,
    })
}

/// An open directory being listed with getdents64.
pub struct DirFd {
    fd: OwnedFd,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

const DIRENT_BUF: usize = 16 * 1024;
// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
const RECLEN_OFFSET: usize = 16;
const NAME_OFFSET: usize = 19;

impl DirFd {
    /// Opens directory `name` under `dir` without following a symlink, and
    /// checks it is still the inode `expected` that was just stat'ed.
    pub fn open_at(dir: Option<&DirFd>, name: &CStr, expected: &Stat) -> Result<DirFd> {
        let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.fd.as_raw_fd());
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = unsafe { owned_fd(libc::openat(dirfd, name.as_ptr(), flags), "openat") }?;
        let dir = DirFd {
            fd,
            buf: vec![0; DIRENT_BUF],
            pos: 0,
            len: 0,
        };
        let st = stat_at(Some(&dir), CStr::from_bytes_with_nul(b".\0").unwrap())?;
        if st.dev != expected.dev || st.ino != expected.ino {
            // Renamed away and replaced between stat and open: treat it like
            // the original entry vanished.
            return Err(SysError::new(libc::ENOENT, "openat"));
        }
        Ok(dir)
    }

    /// The next entry name other than "." and "..", or None at the end.
    pub fn next_name(&mut self) -> Result<Option<CString>> {
        loop {
            if self.pos >= self.len {
                let n = unsafe {
                    libc::syscall(
                        libc::SYS_getdents64,
                        self.fd.as_raw_fd(),
                        self.buf.as_mut_ptr(),
                        self.buf.len(),
                    )
                };
                if n < 0 {
                    let err = SysError::last("getdents64");
                    if err.errno == libc::EINTR {
                        continue;
                    }
                    // The directory was removed while we listed it.
                    if err.errno == libc::ENOENT {
                        return Ok(None);
                    }
                    return Err(err);
                }
                if n == 0 {
                    return Ok(None);
                }
                self.pos = 0;
                self.len = n as usize;
            }
            let rec = &self.buf[self.pos..self.len];
            let reclen = u16::from_ne_bytes([rec[RECLEN_OFFSET], rec[RECLEN_OFFSET + 1]]) as usize;
            self.pos += reclen;
            let name_field = &rec[NAME_OFFSET..reclen];
            let end = name_field
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_field.len());
            let name = &name_field[..end];
            if name == b"." || name == b".." {
                continue;
            }
            // getdents never yields NUL inside a name.
            return Ok(Some(CString::new(name).expect("dirent name without NUL")));
        }
    }
}
