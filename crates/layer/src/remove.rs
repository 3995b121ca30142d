//! Recursive deletion that never follows a symlink and never crosses into
//! another mount: directories are entered with openat2(RESOLVE_NO_XDEV |
//! RESOLVE_NO_SYMLINKS) relative to their parent's fd, so neither a symlink
//! nor a bind mount (even one of the same filesystem) inside the tree can
//! lead the walk elsewhere. Everything else is unlinked by name in its
//! parent, which never follows anything.

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use sys_error::{path_to_cstring, SysError};

use crate::sys::{self, DirList, Result};

/// Opens directory `name` in `dir` for listing, refusing symlinks and
/// mount points (EXDEV).
fn enter(dir: &OwnedFd, name: &CStr) -> Result<OwnedFd> {
    sys::openat2(
        dir.as_raw_fd(),
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        libc::RESOLVE_BENEATH
            | libc::RESOLVE_NO_SYMLINKS
            | libc::RESOLVE_NO_MAGICLINKS
            | libc::RESOLVE_NO_XDEV,
    )
}

fn mount_point(path: PathBuf) -> SysError {
    SysError::new(libc::EXDEV, "openat2")
        .with_path(path)
        .with_detail("a mount point inside the tree; refusing to remove across mounts")
}

/// Removes `path` and everything under it. A symlink at `path` is removed
/// itself, never followed. Fails with EXDEV, before touching anything under
/// it, when `path` or a directory inside it is a mount point; with ENOENT
/// when `path` does not exist.
pub fn remove_tree(path: &Path) -> Result<()> {
    let name = match path.file_name() {
        Some(name) => name,
        None => {
            return Err(SysError::new(libc::EINVAL, "rmdir")
                .with_path(path)
                .with_detail("path has no final component to remove"))
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent_c = path_to_cstring(parent, "open")?;
    let name_c = path_to_cstring(Path::new(name), "fstatat")?;
    // The caller's own path: symlinks in its parents are theirs to choose.
    let parent_fd = sys::openat(
        libc::AT_FDCWD,
        &parent_c,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
    )
    .map_err(|e| e.with_path(parent))?;
    let st = sys::lstatat(parent_fd.as_raw_fd(), &name_c).map_err(|e| e.with_path(path))?;
    if !st.is_dir() {
        return sys::unlinkat(parent_fd.as_raw_fd(), &name_c, 0).map_err(|e| e.with_path(path));
    }
    let fd = match enter(&parent_fd, &name_c) {
        Ok(fd) => fd,
        Err(e) if e.errno == libc::EXDEV => return Err(mount_point(path.to_path_buf())),
        Err(e) => return Err(e.with_path(path)),
    };
    clear_dir(fd, path)?;
    sys::unlinkat(parent_fd.as_raw_fd(), &name_c, libc::AT_REMOVEDIR).map_err(|e| e.with_path(path))
}

/// One directory on the walk's stack.
struct Level {
    fd: OwnedFd,
    list: DirList,
    /// Name in the parent (empty for the walk's root).
    name: CString,
    /// Times the listing was restarted after rmdir found it not empty.
    passes: u8,
}

/// Removes everything inside the directory `fd` (which stays). `display`
/// is its path, for error messages only.
pub fn clear_dir(fd: OwnedFd, display: &Path) -> Result<()> {
    let list = DirList::new(&fd).map_err(|e| e.with_path(display))?;
    let mut stack = vec![Level {
        fd,
        list,
        name: CString::default(),
        passes: 0,
    }];
    let path_of = |stack: &[Level], leaf: Option<&CStr>| -> PathBuf {
        let mut p = display.to_path_buf();
        for level in &stack[1..] {
            p.push(OsStr::from_bytes(level.name.as_bytes()));
        }
        if let Some(leaf) = leaf {
            p.push(OsStr::from_bytes(leaf.to_bytes()));
        }
        p
    };
    loop {
        let top = stack.last_mut().expect("walk stack never empty");
        let next = top.list.next();
        let (name, dtype) = match next {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                let mut done = stack.pop().expect("walk stack never empty");
                let parent = match stack.last() {
                    Some(parent) => parent,
                    None => {
                        // The root: one more look in case entries were
                        // added behind the listing's position.
                        done.list.rewind();
                        if done.passes < 3 && done.list.next().map(|e| e.is_some()).unwrap_or(false)
                        {
                            done.list.rewind();
                            done.passes += 1;
                            stack.push(done);
                            continue;
                        }
                        return Ok(());
                    }
                };
                match sys::unlinkat(parent.fd.as_raw_fd(), &done.name, libc::AT_REMOVEDIR) {
                    Ok(()) => {}
                    Err(e) if e.errno == libc::ENOENT => {}
                    Err(e) if e.errno == libc::ENOTEMPTY && done.passes < 3 => {
                        done.list.rewind();
                        done.passes += 1;
                        stack.push(done);
                    }
                    Err(e) => {
                        let path = path_of(&stack, Some(&done.name));
                        return Err(e.with_path(path));
                    }
                }
                continue;
            }
            Err(e) => return Err(e.with_path(path_of(&stack, None))),
        };
        let top = stack.last().expect("walk stack never empty");
        if dtype != sys::DT_DIR {
            match sys::unlinkat(top.fd.as_raw_fd(), &name, 0) {
                Ok(()) => continue,
                Err(e) if e.errno == libc::ENOENT => continue,
                // DT_UNKNOWN (or a race): it is a directory after all.
                Err(e) if e.errno == libc::EISDIR => {}
                Err(e) => return Err(e.with_path(path_of(&stack, Some(&name)))),
            }
        }
        match enter(&top.fd, &name) {
            Ok(fd) => {
                let list =
                    DirList::new(&fd).map_err(|e| e.with_path(path_of(&stack, Some(&name))))?;
                stack.push(Level {
                    fd,
                    list,
                    name,
                    passes: 0,
                });
            }
            Err(e) if e.errno == libc::ENOENT => {}
            // Replaced by a non-directory since it was listed.
            Err(e) if e.errno == libc::ENOTDIR || e.errno == libc::ELOOP => {
                match sys::unlinkat(top.fd.as_raw_fd(), &name, 0) {
                    Ok(()) => {}
                    Err(e) if e.errno == libc::ENOENT => {}
                    Err(e) => return Err(e.with_path(path_of(&stack, Some(&name)))),
                }
            }
            Err(e) if e.errno == libc::EXDEV => {
                return Err(mount_point(path_of(&stack, Some(&name))))
            }
            Err(e) => return Err(e.with_path(path_of(&stack, Some(&name)))),
        }
    }
}

/// Removes the directory `name` inside `parent` with everything under it.
pub fn remove_dir_at(parent: &OwnedFd, name: &CStr, display: &Path) -> Result<()> {
    let fd = match enter(parent, name) {
        Ok(fd) => fd,
        Err(e) if e.errno == libc::EXDEV => return Err(mount_point(display.to_path_buf())),
        Err(e) => return Err(e.with_path(display)),
    };
    clear_dir(fd, display)?;
    sys::unlinkat(parent.as_raw_fd(), name, libc::AT_REMOVEDIR).map_err(|e| e.with_path(display))
}
