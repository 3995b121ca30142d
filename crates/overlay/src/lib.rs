//! Overlay filesystem mounts.
//!
//! Two ways to the same mount:
//! - the new mount API (fsopen/fsconfig/fsmount/move_mount), adding lower
//!   layers one `lowerdir+` at a time (Linux >= 6.8), so the number of
//!   layers is not bounded by the one-page mount(2) option string;
//! - classic mount(2) for older kernels, which keeps the option string
//!   under a page by naming lower layers through short fd-relative paths
//!   when the plain paths would not fit.
//!
//! `MountApi::Auto` picks the first when the kernel supports it.

mod config;
mod fsmount;
mod legacy;
mod options;

use std::path::Path;

use sys_error::{mkdir_if_missing, path_to_cstring, Result, SysError};

pub use config::OverlayConfig;

/// Which kernel interface mounts the overlay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MountApi {
    /// The new mount API when it supports `lowerdir+`, else mount(2).
    #[default]
    Auto,
    /// fsopen/fsconfig("lowerdir+")/fsmount/move_mount only.
    New,
    /// mount(2) only.
    Legacy,
}

/// Mounts the overlay described by `cfg` on `cfg.target`.
pub fn mount(cfg: &OverlayConfig, api: MountApi) -> Result<()> {
    cfg.validate()?;
    match api {
        MountApi::New => fsmount::mount(cfg),
        MountApi::Legacy => legacy::mount(cfg),
        MountApi::Auto => {
            if new_api_supported() && fsmount::values_fit(cfg) {
                fsmount::mount(cfg)
            } else {
                legacy::mount(cfg)
            }
        }
    }
}

/// Makes the upper, work and target directories when missing (one level
/// each, with `mode`), so a caller that has them made fresh needs no trip
/// of its own for it.
pub fn make_dirs(cfg: &OverlayConfig, mode: u32) -> Result<()> {
    for dir in [cfg.upperdir.as_deref(), cfg.workdir.as_deref(), Some(cfg.target.as_path())].into_iter().flatten() {
        mkdir_if_missing(dir, mode)?;
    }
    Ok(())
}

/// Whether this kernel's overlayfs accepts `lowerdir+` through fsconfig.
/// Probed once per process with a throwaway fs context.
pub fn new_api_supported() -> bool {
    fsmount::lowerdir_append_supported()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnmountOptions {
    /// MNT_DETACH: detach now, finish once the mount is no longer busy.
    pub detach: bool,
}

/// Unmounts whatever is mounted on `target` (never following a symlink).
pub fn unmount(target: &Path, opts: UnmountOptions) -> Result<()> {
    let ctarget = path_to_cstring(target, "umount2")?;
    let mut flags = libc::UMOUNT_NOFOLLOW;
    if opts.detach {
        flags |= libc::MNT_DETACH;
    }
    if unsafe { libc::umount2(ctarget.as_ptr(), flags) } != 0 {
        return Err(SysError::last("umount2").with_path(target));
    }
    Ok(())
}
