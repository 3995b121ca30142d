//! Classic mount(2) for kernels whose overlayfs lacks `lowerdir+`.
//!
//! mount(2) copies at most one page of option data. When the lower layer
//! paths do not fit, each lower directory is opened O_PATH and named by its
//! fd number relative to /proc/self/fd ("12:13:14..."). That needs the cwd
//! to be /proc/self/fd, which is done on a short-lived helper thread that
//! first unshare(CLONE_FS)s, so the rest of the process keeps its cwd and
//! the altered thread is never reused.

use std::ffi::{CStr, CString};
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::Path;

use sys_error::{owned_fd, path_to_cstring, Result, SysError};

use crate::options::escape_path;
use crate::OverlayConfig;

pub fn mount(cfg: &OverlayConfig) -> Result<()> {
    let page = page_size();
    let lowers: Vec<Vec<u8>> = cfg.lowerdirs.iter().map(|d| escape_path(d)).collect();
    let data = option_data(&lowers, cfg);
    if data.len() < page {
        return mount_with_data(cfg, data);
    }
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("overlay-mount".to_string())
            .spawn_scoped(scope, || mount_with_fd_names(cfg, page))
            .map_err(|e| {
                SysError::new(e.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create")
            })?;
        match helper.join() {
            Ok(res) => res,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs on its own thread (see module docs): never call it on a thread
/// that will do anything afterwards.
fn mount_with_fd_names(cfg: &OverlayConfig, page: usize) -> Result<()> {
    if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
        return Err(SysError::last("unshare"));
    }
    // Opened before the chdir, so relative lowerdirs would still resolve
    // against the real cwd (config validation requires absolute ones anyway).
    let fds = cfg
        .lowerdirs
        .iter()
        .map(|dir| open_dir_path(dir))
        .collect::<Result<Vec<OwnedFd>>>()?;
    let proc_fd = CStr::from_bytes_with_nul(b"/proc/self/fd\0").expect("literal has one NUL");
    if unsafe { libc::chdir(proc_fd.as_ptr()) } != 0 {
        return Err(SysError::last("chdir").with_path("/proc/self/fd"));
    }
    let names: Vec<Vec<u8>> = fds
        .iter()
        .map(|fd| fd.as_raw_fd().to_string().into_bytes())
        .collect();
    let data = option_data(&names, cfg);
    if data.len() >= page {
        return Err(SysError::new(libc::E2BIG, "mount")
            .with_path(&cfg.target)
            .with_detail("overlay options exceed a page even with fd-named lower layers"));
    }
    mount_with_data(cfg, data)
    // `fds` close here: overlay holds its own references to the layers.
}

fn open_dir_path(dir: &Path) -> Result<OwnedFd> {
    let cdir = path_to_cstring(dir, "open")?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    unsafe { owned_fd(libc::open(cdir.as_ptr(), flags), "open") }.map_err(|e| e.with_path(dir))
}

/// "lowerdir=a:b,upperdir=u,workdir=w,extra..." with `lowers` already in
/// their final (escaped or fd-number) form.
fn option_data(lowers: &[Vec<u8>], cfg: &OverlayConfig) -> Vec<u8> {
    let mut data = b"lowerdir=".to_vec();
    data.extend_from_slice(&lowers.join(&b':'));
    if let (Some(upper), Some(work)) = (&cfg.upperdir, &cfg.workdir) {
        data.extend_from_slice(b",upperdir=");
        data.extend_from_slice(&escape_path(upper));
        data.extend_from_slice(b",workdir=");
        data.extend_from_slice(&escape_path(work));
    }
    for opt in &cfg.options {
        data.push(b',');
        data.extend_from_slice(opt.as_bytes());
    }
    data
}

fn mount_with_data(cfg: &OverlayConfig, data: Vec<u8>) -> Result<()> {
    let target = path_to_cstring(&cfg.target, "mount")?;
    let data = CString::new(data).map_err(|_| {
        SysError::new(libc::EINVAL, "mount")
            .with_path(&cfg.target)
            .with_detail("overlay options contain a NUL byte")
    })?;
    let overlay = CStr::from_bytes_with_nul(b"overlay\0").expect("literal has one NUL");
    let flags = if cfg.readonly { libc::MS_RDONLY } else { 0 };
    let rc = unsafe {
        libc::mount(
            overlay.as_ptr(),
            target.as_ptr(),
            overlay.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(blame(cfg, SysError::last("mount").with_path(&cfg.target)));
    }
    Ok(())
}

/// mount(2) only says ENOENT/ENOTDIR, not which of the many paths it
/// means (the kernel log does, but nobody reads dmesg). Point at the first
/// layer that fails the same way on its own.
fn blame(cfg: &OverlayConfig, err: SysError) -> SysError {
    if err.errno != libc::ENOENT && err.errno != libc::ENOTDIR {
        return err;
    }
    let layers = cfg
        .lowerdirs
        .iter()
        .map(|d| ("lowerdir", d))
        .chain(cfg.upperdir.iter().map(|d| ("upperdir", d)))
        .chain(cfg.workdir.iter().map(|d| ("workdir", d)));
    for (what, dir) in layers {
        let fails_alike = match std::fs::metadata(dir) {
            Ok(meta) => !meta.is_dir() && err.errno == libc::ENOTDIR,
            Err(e) => e.raw_os_error() == Some(err.errno),
        };
        if fails_alike {
            return err.with_path(dir).with_detail(what);
        }
    }
    err
}

fn page_size() -> usize {
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_data_joins_layers_and_escapes_upper() {
        let cfg = OverlayConfig {
            lowerdirs: vec!["/l1".into(), "/l2".into()],
            upperdir: Some("/u,x".into()),
            workdir: Some("/w".into()),
            target: "/t".into(),
            options: vec!["volatile".into(), "metacopy=off".into()],
            ..Default::default()
        };
        let lowers: Vec<Vec<u8>> = cfg.lowerdirs.iter().map(|d| escape_path(d)).collect();
        assert_eq!(
            String::from_utf8(option_data(&lowers, &cfg)).unwrap(),
            "lowerdir=/l1:/l2,upperdir=/u\\,x,workdir=/w,volatile,metacopy=off"
        );
    }
}
