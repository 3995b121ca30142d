//! Disk usage of a directory tree, like `du -sx --block-size=1`: allocated
//! bytes (st_blocks * 512) and inode count, hard links counted once, symlinks
//! not followed, directories of other filesystems not entered.
//!
//! The walk is fd-relative (openat/fstatat on the parent's fd) so it neither
//! re-resolves long paths nor can be steered out of the tree by a rename or a
//! symlink swapped in mid-walk. Containers keep writing while we count, so
//! entries that vanish between listing and stat are skipped, not errors.

mod dir;

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use sys_error::{path_to_cstring, Result, SysError};

use dir::{DirFd, Stat};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Allocated bytes, as du reports them (st_blocks * 512).
    pub bytes: u64,
    /// Distinct inodes, the root included.
    pub inodes: u64,
}

impl Usage {
    fn add(&mut self, st: &Stat) {
        self.bytes += st.blocks * 512;
        self.inodes += 1;
    }
}

/// Usage of the tree rooted at `path`. A root that is not a directory
/// counts as itself (a symlink root is not followed, as with du -P).
pub fn dir_usage(path: &Path) -> Result<Usage> {
    let root = path_to_cstring(path, "fstatat")?;
    let root_st = dir::stat_at(None, &root).map_err(|e| e.with_path(path))?;
    let mut usage = Usage::default();
    usage.add(&root_st);
    if !root_st.is_dir() {
        return Ok(usage);
    }
    let root_fd = DirFd::open_at(None, &root, &root_st).map_err(|e| e.with_path(path))?;

    let mut walk = Walk {
        dev: root_st.dev,
        seen: HashSet::new(),
        usage,
        stack: vec![Level::new(root_fd, None)],
    };
    walk.run()
        .map_err(|(e, rel)| e.with_path(walk_path(path, &rel)))?;
    Ok(walk.usage)
}

/// One open directory on the walk's stack.
struct Level {
    dir: DirFd,
    /// This directory's name in its parent (None for the root), kept only to
    /// name the path in an error.
    name: Option<CString>,
}

impl Level {
    fn new(dir: DirFd, name: Option<CString>) -> Self {
        Level { dir, name }
    }
}

struct Walk {
    dev: u64,
    /// (dev, ino) of multiply-linked non-directories already counted.
    seen: HashSet<(u64, u64)>,
    usage: Usage,
    /// Explicit stack instead of recursion: deep trees cost fds, not stack.
    stack: Vec<Level>,
}

/// A failure and the tree-relative components of where it happened.
type WalkError = (SysError, Vec<CString>);

impl Walk {
    fn run(&mut self) -> std::result::Result<(), WalkError> {
        while let Some(top) = self.stack.last_mut() {
            let name = match top.dir.next_name() {
                Ok(Some(name)) => name,
                Ok(None) => {
                    self.stack.pop();
                    continue;
                }
                Err(e) => return Err((e, self.components(None))),
            };
            self.visit(name)?;
        }
        Ok(())
    }

    fn visit(&mut self, name: CString) -> std::result::Result<(), WalkError> {
        let parent = &self.stack[self.stack.len() - 1].dir;
        let st = match dir::stat_at(Some(parent), &name) {
            Ok(st) => st,
            Err(e) if vanished(&e) => return Ok(()),
            Err(e) => return Err((e, self.components(Some(&name)))),
        };
        if st.is_dir() {
            if st.dev != self.dev {
                // A mount point: its contents belong to another filesystem.
                // Only directories are checked: on an overlay mount regular
                // files report their layer's st_dev, not the overlay's.
                return Ok(());
            }
            let child = match DirFd::open_at(Some(parent), &name, &st) {
                Ok(fd) => fd,
                // Gone, or swapped for something else since the stat.
                Err(e) if vanished(&e) || e.errno == libc::ENOTDIR || e.errno == libc::ELOOP => {
                    return Ok(())
                }
                Err(e) => return Err((e, self.components(Some(&name)))),
            };
            self.usage.add(&st);
            self.stack.push(Level::new(child, Some(name)));
            return Ok(());
        }
        if st.nlink > 1 && !self.seen.insert((st.dev, st.ino)) {
            return Ok(());
        }
        self.usage.add(&st);
        Ok(())
    }

    fn components(&self, leaf: Option<&CStr>) -> Vec<CString> {
        let mut parts: Vec<CString> = self.stack.iter().filter_map(|l| l.name.clone()).collect();
        if let Some(leaf) = leaf {
            parts.push(leaf.to_owned());
        }
        parts
    }
}

fn vanished(err: &SysError) -> bool {
    err.errno == libc::ENOENT
}

fn walk_path(root: &Path, rel: &[CString]) -> PathBuf {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let mut path = root.to_path_buf();
    for part in rel {
        path.push(OsStr::from_bytes(part.as_bytes()));
    }
    path
}

#[cfg(test)]
mod tests;
