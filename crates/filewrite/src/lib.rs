//! Writing a whole file in one call on the calling thread, with the
//! guarantees asked for: replaced atomically (a reader, or a crash, sees the
//! old content or the new, never a torn file) and/or durable (on disk, name
//! included, before returning). skiff's state files go through here: one
//! trip to a worker thread instead of one per system call.

use std::os::raw::c_int;
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sys_error::{check, mkdir_if_missing, owned_fd, path_to_cstring, retry, write_all, Result, SysError};

#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// Permission bits of a file created (subject to the umask).
    pub mode: u32,
    /// Write a sibling and rename it over the path, rather than write in place.
    pub replace: bool,
    /// fdatasync the file, and fsync its directory once the name is in place.
    pub durable: bool,
    /// Make the parent directory (one level) with these bits when it is missing
    /// (with `durable`, its name is flushed too).
    pub parent_mode: Option<u32>,
}

/// Suffix of the sibling a replace writes first; a crash may leave one
/// behind (`<name>.tmp-<pid>-<n>`), for the owner of the directory to sweep.
const TMP_INFIX: &str = ".tmp-";

/// Writes `data` as the whole content of `path`.
pub fn write_file(path: &Path, data: &[u8], opts: &WriteOptions) -> Result<()> {
    let parent = dir_of(path);
    if path.file_name().is_none() {
        return Err(SysError::new(libc::EISDIR, "open").with_path(path));
    }
    if let Some(mode) = opts.parent_mode {
        // A new directory's own name must last too.
        if mkdir_if_missing(parent, mode)? && opts.durable {
            sync_dir(dir_of(parent))?;
        }
    }
    if !opts.replace {
        let file = open_for_write(path, libc::O_TRUNC, opts.mode)?;
        write_and_close(file, data, opts.durable).map_err(|e| e.with_path(path))?;
        return if opts.durable { sync_dir(parent) } else { Ok(()) };
    }
    let tmp = sibling(path);
    let written = open_for_write(&tmp, libc::O_EXCL, opts.mode).and_then(|file| write_and_close(file, data, opts.durable).map_err(|e| e.with_path(&tmp)));
    let renamed = written.and_then(|()| rename(&tmp, path));
    if let Err(err) = renamed {
        if let Ok(c) = path_to_cstring(&tmp, "unlink") {
            unsafe { libc::unlink(c.as_ptr()) };
        }
        return Err(err);
    }
    if opts.durable {
        sync_dir(parent)?;
    }
    Ok(())
}

/// `<name>.tmp-<pid>-<n>-<random>`: unique within the process by the counter,
/// and across restarts (a daemon that is always pid 1, say) by the random part,
/// so a sibling a crash left behind is never in the way of an O_EXCL open.
fn sibling(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 6];
    // GRND_NONBLOCK: never wait for the entropy pool; the counter alone still keeps names apart in-process.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), libc::GRND_NONBLOCK) };
    let hex: String = random.iter().map(|b| format!("{:02x}", b)).collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{}{}-{}-{}", TMP_INFIX, std::process::id(), n, hex));
    path.with_file_name(name)
}

/// The directory `path` is named in: "." for a bare name, "/" for "/" itself.
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        None => Path::new("/"),
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
    }
}

fn open_for_write(path: &Path, flags: c_int, mode: u32) -> Result<OwnedFd> {
    let c = path_to_cstring(path, "open")?;
    let fd = retry("open", || unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | flags, mode) })
        .map_err(|e| e.with_path(path))?;
    // A fresh descriptor from open.
    unsafe { owned_fd(fd, "open") }
}

fn write_and_close(file: OwnedFd, data: &[u8], durable: bool) -> Result<()> {
    write_all(file.as_raw_fd(), data)?;
    if durable {
        check(unsafe { libc::fdatasync(file.as_raw_fd()) }, "fdatasync")?;
    }
    // close(2) can report a delayed write error (NFS, quotas): not dropped silently.
    let fd = std::os::unix::io::IntoRawFd::into_raw_fd(file);
    check(unsafe { libc::close(fd) }, "close")
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    let (a, b) = (path_to_cstring(from, "rename")?, path_to_cstring(to, "rename")?);
    check(unsafe { libc::rename(a.as_ptr(), b.as_ptr()) }, "rename").map_err(|e| e.with_path(to))
}

/// Makes a create or rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    let c = path_to_cstring(dir, "open")?;
    let fd = unsafe { owned_fd(libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC), "open") }.map_err(|e| e.with_path(dir))?;
    check(unsafe { libc::fsync(fd.as_raw_fd()) }, "fsync").map_err(|e| e.with_path(dir))
}

#[cfg(test)]
mod tests;
