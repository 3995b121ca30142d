//! The layer root: a directory fd under which every path is resolved with
//! openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), so
//! `..`, absolute symlinks and symlink chains all stay inside it. Only
//! parent directories are resolved that way; the final component of every
//! entry is then created or changed with *at calls on the parent's fd that
//! never follow it.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sys_error::{path_to_cstring, SysError};

use crate::sys::{self, cstring, DirList, Result, RESOLVE_CONFINED};

/// Cached parent directories are dropped wholesale beyond this many.
const CACHE_LIMIT: usize = 4096;

pub struct Root {
    fd: Rc<OwnedFd>,
    path: PathBuf,
    /// Resolved parent directories (O_PATH fds) by cleaned relative path.
    /// Emptied whenever anything is removed, since a removal can change
    /// what a path resolves to.
    cache: HashMap<Vec<u8>, Rc<OwnedFd>>,
}

impl Root {
    /// Opens `path`, which must be an existing, empty directory (not a
    /// symlink), and checks the kernel has openat2.
    pub fn open(path: &Path) -> Result<Root> {
        let c = path_to_cstring(path, "open")?;
        let fd = sys::openat(
            libc::AT_FDCWD,
            &c,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| e.with_path(path))?;
        let dot = CStr::from_bytes_with_nul(b".\0").expect("static C string");
        match sys::openat2(fd.as_raw_fd(), dot, libc::O_PATH, RESOLVE_CONFINED) {
            Ok(_) => {}
            Err(e) if e.errno == libc::ENOSYS || e.errno == libc::EINVAL => {
                return Err(e.with_path(path).with_detail(
                    "layer extraction needs openat2(2) with RESOLVE_IN_ROOT (Linux 5.6 or later) \
                     to keep image content inside the layer; refusing to extract without it",
                ))
            }
            Err(e) => return Err(e.with_path(path)),
        }
        let mut list = DirList::new(&fd).map_err(|e| e.with_path(path))?;
        if list.next().map_err(|e| e.with_path(path))?.is_some() {
            return Err(SysError::new(libc::ENOTEMPTY, "open")
                .with_path(path)
                .with_detail("the layer directory must be empty"));
        }
        Ok(Root {
            fd: Rc::new(fd),
            path: path.to_path_buf(),
            cache: HashMap::new(),
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn dup_fd(&self) -> Result<OwnedFd> {
        sys::dup(&self.fd).map_err(|e| e.with_path(&self.path))
    }

    /// The host path of `rel` (for messages only; never opened).
    pub fn display(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(OsStr::from_bytes(rel))
        }
    }

    /// Opens `rel` (a cleaned, non-empty relative path) inside the root.
    /// `flags` decide whether a final symlink is followed (it is clamped
    /// to the root either way).
    pub fn resolve(&self, rel: &[u8], flags: libc::c_int) -> Result<OwnedFd> {
        let c = cstring(rel, "openat2")?;
        sys::openat2(self.raw(), &c, flags, RESOLVE_CONFINED)
    }

    /// Forgets cached directories, after something was removed.
    pub fn invalidate(&mut self) {
        self.cache.clear();
    }

    /// An fd of the directory `dir` (cleaned relative path, "" for the
    /// root), creating missing directories (mode 0755) on the way: each
    /// new level with mkdirat on its resolved parent's fd
    /// (`inroot::mkdir_all`).
    pub fn dir(&mut self, dir: &[u8]) -> Result<Rc<OwnedFd>> {
        if dir.is_empty() {
            return Ok(self.fd.clone());
        }
        if let Some(fd) = self.cache.get(dir) {
            return Ok(fd.clone());
        }
        let root = inroot::Root::new(self.fd.as_fd(), &self.path, RESOLVE_CONFINED);
        let fd = Rc::new(inroot::mkdir_all(root, dir, 0o755)?);
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(dir.to_vec(), fd.clone());
        Ok(fd)
    }
}
