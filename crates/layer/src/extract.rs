//! Applying tar entries to the layer directory, Docker/OCI layer semantics:
//! later entries replace earlier ones at the same path (a directory over a
//! directory merges), OCI whiteouts become overlay whiteouts, ownership,
//! modes (setuid/setgid/sticky after chown), xattrs and times are restored,
//! and directory times are set last, deepest first.
//!
//! Confinement: an entry's path is cleaned (leading '/', '.' and empty
//! components dropped; any '..' refuses the entry), its parent directory is
//! resolved inside the root by `Root::dir`, and the final component is made
//! with *at calls on that parent fd that never follow a symlink there.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};

use sys_error::SysError;

use crate::error::{ErrorKind, LayerError, Result};
use crate::root::Root;
use crate::sys;
use crate::tar::{Entry, Kind, Source, TarReader, Time};

pub struct Extractor {
    root: Root,
    /// Directory entries' (atime, mtime), set once everything is in place.
    dir_times: HashMap<Vec<u8>, [libc::timespec; 2]>,
    entries: u64,
}

/// Cleans an entry path to "a/b/c" form. '..' anywhere is hostile: it is
/// refused, never resolved or skipped.
fn clean(raw: &[u8], what: &str) -> Result<Vec<u8>> {
    if raw.contains(&0) {
        return Err(LayerError::entry(
            ErrorKind::Format,
            raw,
            format!("{} contains a NUL byte", what),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                return Err(LayerError::entry(
                    ErrorKind::HostileEntry,
                    raw,
                    format!(
                        "{} has a '..' component and would leave the layer root",
                        what
                    ),
                ))
            }
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

/// ("a/b", "c") for "a/b/c"; ("", "c") for "c".
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&path[..0], path),
    }
}

fn timespec(t: Time) -> libc::timespec {
    libc::timespec {
        tv_sec: t.sec as libc::time_t,
        tv_nsec: t.nsec as libc::c_long,
    }
}

fn times(e: &Entry) -> [libc::timespec; 2] {
    [timespec(e.atime.unwrap_or(e.mtime)), timespec(e.mtime)]
}

/// Where xattrs go: an open fd, or a name (never followed) in a directory.
enum Target<'a> {
    Fd(RawFd),
    At(RawFd, &'a CStr),
}

impl Extractor {
    pub fn new(root: Root) -> Extractor {
        Extractor {
            root,
            dir_times: HashMap::new(),
            entries: 0,
        }
    }

    /// Extracts every entry, then reads the stream to its end and sets the
    /// directory times. Returns the number of entries. `stop` is polled
    /// between entries and between pieces of file data.
    pub fn run<S: Source>(
        &mut self,
        tar: &mut TarReader<S>,
        stop: &dyn Fn() -> bool,
    ) -> Result<u64> {
        while let Some(entry) = tar.next_entry()? {
            if stop() {
                return Err(LayerError::aborted());
            }
            self.entries += 1;
            self.apply(tar, &entry, stop)?;
        }
        tar.drain()?;
        self.set_dir_times()?;
        Ok(self.entries)
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// A failed call about `path` (cleaned) of entry `e`.
    fn sys(&self, err: SysError, path: &[u8], e: &Entry) -> LayerError {
        let err = if err.path.is_none() {
            err.with_path(self.root.display(path))
        } else {
            err
        };
        LayerError::sys_entry(err, &e.path)
    }

    fn apply<S: Source>(
        &mut self,
        tar: &mut TarReader<S>,
        e: &Entry,
        stop: &dyn Fn() -> bool,
    ) -> Result<()> {
        let path = clean(&e.path, "path")?;
        if path.is_empty() {
            if e.kind != Kind::Dir {
                return Err(LayerError::entry(
                    ErrorKind::HostileEntry,
                    &e.path,
                    "a non-directory entry names the layer root itself",
                ));
            }
            return self.apply_root(e);
        }
        if path.starts_with(b".wh..wh.") && path != b".wh..wh..opq" {
            // AUFS bookkeeping directories (.wh..wh.plnk, .wh..wh.aufs) at
            // the top of old Docker layers: not content.
            return Ok(());
        }
        let (dir, name) = split(&path);
        if let Some(target) = name.strip_prefix(b".wh.") {
            return self.whiteout(e, dir, target);
        }
        let parent = self.root.dir(dir).map_err(|err| self.sys(err, dir, e))?;
        let pfd = parent.as_raw_fd();
        let cname = CString::new(name).expect("cleaned path has no NUL");
        match e.kind {
            Kind::File => {
                let fd = self.create(&parent, &cname, &path, e, || {
                    sys::openat(
                        pfd,
                        &cname,
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                        0o600,
                    )
                })?;
                self.write_data(tar, &fd, &path, e, stop)?;
                let raw = fd.as_raw_fd();
                let r = sys::fchown(raw, e.uid, e.gid).and_then(|_| sys::fchmod(raw, e.mode));
                r.map_err(|err| self.sys(err, &path, e))?;
                self.set_xattrs(Target::Fd(raw), &path, e)?;
                sys::futimens(raw, &times(e)).map_err(|err| self.sys(err, &path, e))?;
            }
            Kind::Dir => {
                match sys::mkdirat(pfd, &cname, 0o700) {
                    Ok(()) => {}
                    Err(err) if err.errno == libc::EEXIST => {
                        let st =
                            sys::lstatat(pfd, &cname).map_err(|err| self.sys(err, &path, e))?;
                        if !st.is_dir() {
                            self.remove_existing(&parent, &cname, &path, e)?;
                            sys::mkdirat(pfd, &cname, 0o700)
                                .map_err(|err| self.sys(err, &path, e))?;
                        }
                        // A directory over a directory merges.
                    }
                    Err(err) => return Err(self.sys(err, &path, e)),
                }
                let r = sys::lchownat(pfd, &cname, e.uid, e.gid)
                    .and_then(|_| sys::fchmodat(pfd, &cname, e.mode));
                r.map_err(|err| self.sys(err, &path, e))?;
                if !e.xattrs.is_empty() {
                    let fd = sys::openat(
                        pfd,
                        &cname,
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                        0,
                    )
                    .map_err(|err| self.sys(err, &path, e))?;
                    self.set_xattrs(Target::Fd(fd.as_raw_fd()), &path, e)?;
                }
                self.dir_times.insert(path.clone(), times(e));
            }
            Kind::Symlink => {
                if e.link.is_empty() {
                    return Err(LayerError::entry(
                        ErrorKind::Format,
                        &e.path,
                        "symlink without a target",
                    ));
                }
                // Stored verbatim: it is never followed while extracting.
                let target = CString::new(e.link.clone()).map_err(|_| {
                    LayerError::entry(
                        ErrorKind::Format,
                        &e.path,
                        "symlink target contains a NUL byte",
                    )
                })?;
                self.create(&parent, &cname, &path, e, || {
                    sys::symlinkat(&target, pfd, &cname)
                })?;
                sys::lchownat(pfd, &cname, e.uid, e.gid).map_err(|err| self.sys(err, &path, e))?;
                self.set_xattrs(Target::At(pfd, &cname), &path, e)?;
                sys::lutimensat(pfd, &cname, &times(e)).map_err(|err| self.sys(err, &path, e))?;
            }
            Kind::Hardlink => self.hardlink(&parent, &cname, &path, e)?,
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (kind, dev) = match e.kind {
                    Kind::Char => (libc::S_IFCHR, libc::makedev(e.dev_major, e.dev_minor)),
                    Kind::Block => (libc::S_IFBLK, libc::makedev(e.dev_major, e.dev_minor)),
                    _ => (libc::S_IFIFO, 0),
                };
                self.create(&parent, &cname, &path, e, || {
                    sys::mknodat(pfd, &cname, kind | 0o600, dev)
                })?;
                // fchmodat follows symlinks, but this name is the node just made.
                let r = sys::lchownat(pfd, &cname, e.uid, e.gid)
                    .and_then(|_| sys::fchmodat(pfd, &cname, e.mode));
                r.map_err(|err| self.sys(err, &path, e))?;
                self.set_xattrs(Target::At(pfd, &cname), &path, e)?;
                sys::lutimensat(pfd, &cname, &times(e)).map_err(|err| self.sys(err, &path, e))?;
            }
        }
        Ok(())
    }

    /// "./" (or "/"): the layer root's own metadata.
    fn apply_root(&mut self, e: &Entry) -> Result<()> {
        let fd = self.root.raw();
        let r = sys::fchown(fd, e.uid, e.gid).and_then(|_| sys::fchmod(fd, e.mode));
        r.map_err(|err| self.sys(err, b"", e))?;
        self.set_xattrs(Target::Fd(fd), b"", e)?;
        self.dir_times.insert(Vec::new(), times(e));
        Ok(())
    }

    /// Runs `make`; if the name is taken, removes what is there (a
    /// directory with everything in it) and runs it again.
    fn create<T>(
        &mut self,
        parent: &OwnedFd,
        name: &CStr,
        path: &[u8],
        e: &Entry,
        mut make: impl FnMut() -> sys::Result<T>,
    ) -> Result<T> {
        match make() {
            Ok(v) => return Ok(v),
            Err(err) if err.errno == libc::EEXIST => {}
            Err(err) => return Err(self.sys(err, path, e)),
        }
        self.remove_existing(parent, name, path, e)?;
        make().map_err(|err| self.sys(err, path, e))
    }

    /// Removes whatever is at `name` in `parent`, never following it.
    fn remove_existing(
        &mut self,
        parent: &OwnedFd,
        name: &CStr,
        path: &[u8],
        e: &Entry,
    ) -> Result<()> {
        let st = match sys::lstatat(parent.as_raw_fd(), name) {
            Ok(st) => st,
            Err(err) if err.errno == libc::ENOENT => return Ok(()),
            Err(err) => return Err(self.sys(err, path, e)),
        };
        // What a cached path resolves to may change with this removal.
        self.root.invalidate();
        if st.is_dir() {
            crate::remove::remove_dir_at(parent, name, &self.root.display(path))
                .map_err(|err| self.sys(err, path, e))
        } else {
            sys::unlinkat(parent.as_raw_fd(), name, 0).map_err(|err| self.sys(err, path, e))
        }
    }

    fn write_data<S: Source>(
        &mut self,
        tar: &mut TarReader<S>,
        fd: &OwnedFd,
        path: &[u8],
        e: &Entry,
        stop: &dyn Fn() -> bool,
    ) -> Result<()> {
        let raw = fd.as_raw_fd();
        match &e.sparse {
            None => loop {
                let chunk = tar.data(u64::MAX)?;
                if chunk.is_empty() {
                    return Ok(());
                }
                if let Err(err) = sys::write_all(raw, chunk) {
                    return Err(self.sys(err, path, e));
                }
                if stop() {
                    return Err(LayerError::aborted());
                }
            },
            Some(sparse) => {
                // Holes stay holes: only the stored segments are written.
                for &(offset, len) in &sparse.segments {
                    let mut at = offset;
                    let end = offset + len;
                    while at < end {
                        let chunk = tar.data(end - at)?;
                        if chunk.is_empty() {
                            return Err(LayerError::entry(
                                ErrorKind::Truncated,
                                &e.path,
                                "the layer ends in the middle of this entry",
                            ));
                        }
                        let n = chunk.len() as u64;
                        if let Err(err) = sys::pwrite_all(raw, chunk, at) {
                            return Err(self.sys(err, path, e));
                        }
                        at += n;
                        if stop() {
                            return Err(LayerError::aborted());
                        }
                    }
                }
                sys::ftruncate(raw, sparse.real_size).map_err(|err| self.sys(err, path, e))
            }
        }
    }

    fn hardlink(&mut self, parent: &OwnedFd, name: &CStr, path: &[u8], e: &Entry) -> Result<()> {
        let target = clean(&e.link, "hardlink target").map_err(|err| {
            // Name the entry; the message says which target it wanted.
            let what = format!(
                "hardlink target '{}': {}",
                String::from_utf8_lossy(&e.link),
                if err.kind == ErrorKind::HostileEntry {
                    "has a '..' component and would leave the layer root"
                } else {
                    "contains a NUL byte"
                }
            );
            LayerError::entry(err.kind, &e.path, what)
        })?;
        if target.is_empty() {
            return Err(LayerError::entry(
                ErrorKind::HostileEntry,
                &e.path,
                "hardlink to the layer root",
            ));
        }
        let shown = String::from_utf8_lossy(&e.link).into_owned();
        // Resolved inside the root like everything else: an absolute
        // "/etc/passwd" means the layer's own etc/passwd, never the host's.
        let tfd = match self.root.resolve(&target, libc::O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => fd,
            Err(err) if err.errno == libc::ENOENT || err.errno == libc::ENOTDIR => {
                return Err(LayerError::entry(
                    ErrorKind::Format,
                    &e.path,
                    format!("hardlink target '{}' does not exist in the layer", shown),
                ))
            }
            Err(err) => return Err(self.sys(err.with_path(self.root.display(&target)), path, e)),
        };
        let st = sys::fstat(tfd.as_raw_fd()).map_err(|err| self.sys(err, &target, e))?;
        if st.is_dir() {
            return Err(LayerError::entry(
                ErrorKind::Format,
                &e.path,
                format!("hardlink target '{}' is a directory", shown),
            ));
        }
        match link_fd(&tfd, parent.as_raw_fd(), name) {
            Ok(()) => return Ok(()),
            Err(err) if err.errno == libc::EEXIST => {}
            Err(err) => return Err(self.sys(err, path, e)),
        }
        if let Ok(existing) = sys::lstatat(parent.as_raw_fd(), name) {
            if existing.dev == st.dev && existing.ino == st.ino {
                // Already this very file.
                return Ok(());
            }
        }
        self.remove_existing(parent, name, path, e)?;
        link_fd(&tfd, parent.as_raw_fd(), name).map_err(|err| self.sys(err, path, e))
    }

    /// `.wh.NAME` and `.wh..wh..opq`.
    fn whiteout(&mut self, e: &Entry, dir: &[u8], target: &[u8]) -> Result<()> {
        if target == b".wh..opq" {
            // Opaque directory: nothing below it from lower layers shows.
            let fd;
            let raw = if dir.is_empty() {
                self.root.raw()
            } else {
                self.root.dir(dir).map_err(|err| self.sys(err, dir, e))?;
                fd = self
                    .root
                    .resolve(dir, libc::O_RDONLY | libc::O_DIRECTORY)
                    .map_err(|err| self.sys(err, dir, e))?;
                fd.as_raw_fd()
            };
            let key =
                CStr::from_bytes_with_nul(b"trusted.overlay.opaque\0").expect("static C string");
            return sys::fsetxattr(raw, key, b"y").map_err(|err| self.sys(err, dir, e));
        }
        if target.starts_with(b".wh.") {
            // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content.
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(LayerError::entry(
                ErrorKind::HostileEntry,
                &e.path,
                "whiteout of an invalid name",
            ));
        }
        let parent = self.root.dir(dir).map_err(|err| self.sys(err, dir, e))?;
        let mut path = dir.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(target);
        let name = CString::new(target).expect("cleaned path has no NUL");
        self.remove_existing(&parent, &name, &path, e)?;
        sys::mknodat(
            parent.as_raw_fd(),
            &name,
            libc::S_IFCHR,
            libc::makedev(0, 0),
        )
        .map_err(|err| self.sys(err, &path, e))
    }

    fn set_xattrs(&self, target: Target<'_>, path: &[u8], e: &Entry) -> Result<()> {
        for (key, value) in &e.xattrs {
            // overlayfs reads trusted.overlay.* (redirect, metacopy, origin)
            // from lower layers; image content does not get to steer it.
            // Opacity is the exception: it is what .wh..wh..opq means.
            if key.starts_with(b"trusted.overlay.") && key != b"trusted.overlay.opaque" {
                continue;
            }
            let ckey = CString::new(key.clone()).map_err(|_| {
                LayerError::entry(ErrorKind::Format, &e.path, "xattr name contains a NUL byte")
            })?;
            let r = match target {
                Target::Fd(fd) => sys::fsetxattr(fd, &ckey, value),
                Target::At(dir, name) => sys::lsetxattr_at(dir, name, &ckey, value),
            };
            match r {
                Ok(()) => {}
                // As Docker: a filesystem or namespace that does not take
                // an xattr (user.* on a symlink, trusted.* unprivileged)
                // does not fail the layer.
                Err(err) if err.errno == libc::EOPNOTSUPP || err.errno == libc::EPERM => {}
                Err(err) => {
                    let detail = format!("xattr {}", String::from_utf8_lossy(key));
                    return Err(self.sys(err.with_detail(detail), path, e));
                }
            }
        }
        Ok(())
    }

    /// Directory times, deepest first, after all entries are in.
    fn set_dir_times(&mut self) -> Result<()> {
        let mut dirs: Vec<(Vec<u8>, [libc::timespec; 2])> = self.dir_times.drain().collect();
        let depth = |p: &[u8]| {
            if p.is_empty() {
                0
            } else {
                1 + p.iter().filter(|&&b| b == b'/').count()
            }
        };
        dirs.sort_by_key(|d| std::cmp::Reverse(depth(&d.0)));
        for (path, ts) in dirs {
            let r = if path.is_empty() {
                sys::futimens(self.root.raw(), &ts)
            } else {
                match self
                    .root
                    .resolve(&path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)
                {
                    Ok(fd) => sys::futimens(fd.as_raw_fd(), &ts),
                    // Replaced by a later non-directory entry.
                    Err(err)
                        if err.errno == libc::ENOENT
                            || err.errno == libc::ENOTDIR
                            || err.errno == libc::ELOOP =>
                    {
                        Ok(())
                    }
                    Err(err) => Err(err),
                }
            };
            r.map_err(|err| {
                let err = err.with_path(self.root.display(&path));
                LayerError::sys_entry(err, &path)
            })?;
        }
        Ok(())
    }
}

/// linkat from an O_PATH fd: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, so
/// without it go through /proc/self/fd (a magic link followed on purpose:
/// it names exactly the inode already resolved inside the root).
fn link_fd(target: &OwnedFd, dir: RawFd, name: &CStr) -> sys::Result<()> {
    let empty = CStr::from_bytes_with_nul(b"\0").expect("static C string");
    match sys::linkat(target.as_raw_fd(), empty, dir, name, libc::AT_EMPTY_PATH) {
        Err(err) if err.errno == libc::ENOENT || err.errno == libc::EPERM => {
            let proc_path = CString::new(format!("/proc/self/fd/{}", target.as_raw_fd()))
                .expect("no NUL in a number");
            sys::linkat(
                libc::AT_FDCWD,
                &proc_path,
                dir,
                name,
                libc::AT_SYMLINK_FOLLOW,
            )
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean(b"./a//b/./c/", "path").unwrap(), b"a/b/c");
        assert_eq!(clean(b"/etc/passwd", "path").unwrap(), b"etc/passwd");
        assert_eq!(clean(b"./", "path").unwrap(), b"");
        for bad in [&b"../x"[..], b"a/../../x", b"a/..", b".."] {
            let err = clean(bad, "path").unwrap_err();
            assert_eq!(err.kind, ErrorKind::HostileEntry);
        }
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
    }
}
