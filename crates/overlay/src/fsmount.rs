//! The new mount API (Linux >= 5.2) as used for overlay: an fs context from
//! fsopen, configured key by key with fsconfig, turned into a detached mount
//! by fsmount and attached with move_mount. Lower layers go in one
//! `lowerdir+` call each (overlayfs >= 6.8), so their number and length are
//! not limited by a page-sized option string.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use sys_error::{owned_fd, path_to_cstring, Result, SysError};

use crate::options::{escape_path, split_extra};
use crate::OverlayConfig;

// libc 0.2.139 lacks these. The numbers come from the unified syscall
// table, identical on every architecture Linux added them to.
const SYS_MOVE_MOUNT: libc::c_long = 429;
const SYS_FSOPEN: libc::c_long = 430;
const SYS_FSCONFIG: libc::c_long = 431;
const SYS_FSMOUNT: libc::c_long = 432;

const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// fsconfig copies string values with strndup_user(value, 256): longer
/// ones fail with EINVAL.
const MAX_VALUE_LEN: usize = 255;

pub fn mount(cfg: &OverlayConfig) -> Result<()> {
    let fs = FsContext::open()?;
    fs.set_string("source", b"overlay")
        .map_err(|e| e.with_path(&cfg.target))?;
    // lowerdir+ values are taken literally (no unescaping), one layer each.
    for dir in &cfg.lowerdirs {
        fs.set_string("lowerdir+", dir.as_os_str().as_bytes())
            .map_err(|e| e.with_path(dir))?;
    }
    if let (Some(upper), Some(work)) = (&cfg.upperdir, &cfg.workdir) {
        // upperdir/workdir still go through overlay's unescaping.
        fs.set_string("upperdir", &escape_path(upper))
            .map_err(|e| e.with_path(upper))?;
        fs.set_string("workdir", &escape_path(work))
            .map_err(|e| e.with_path(work))?;
    }
    for opt in &cfg.options {
        let res = match split_extra(opt) {
            (key, Some(value)) => fs.set_string(key, value.as_bytes()),
            (key, None) => fs.set_flag(key),
        };
        res.map_err(|e| e.with_path(&cfg.target))?;
    }
    if cfg.readonly {
        fs.set_flag("ro").map_err(|e| e.with_path(&cfg.target))?;
    }
    fs.create().map_err(|e| e.with_path(&cfg.target))?;
    let attrs = if cfg.readonly { MOUNT_ATTR_RDONLY } else { 0 };
    let mnt = fs.fsmount(attrs).map_err(|e| e.with_path(&cfg.target))?;
    move_mount(&mnt, &cfg.target)
}

/// Whether every value fits fsconfig's string limit.
pub fn values_fit(cfg: &OverlayConfig) -> bool {
    let lowers_fit = cfg
        .lowerdirs
        .iter()
        .all(|d| d.as_os_str().len() <= MAX_VALUE_LEN);
    let escaped_fit = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or(true, |p| escape_path(p).len() <= MAX_VALUE_LEN)
    };
    lowers_fit && escaped_fit(&cfg.upperdir) && escaped_fit(&cfg.workdir)
}

const PROBE_UNKNOWN: u8 = 0;
const PROBE_YES: u8 = 1;
const PROBE_NO: u8 = 2;
static PROBE: AtomicU8 = AtomicU8::new(PROBE_UNKNOWN);

/// Probes once whether overlayfs takes `lowerdir+` through fsconfig. Any
/// failure (no fsopen, seccomp, no overlay) answers no: mount(2) is then
/// the path that reports the real error.
pub fn lowerdir_append_supported() -> bool {
    match PROBE.load(Ordering::Relaxed) {
        PROBE_YES => true,
        PROBE_NO => false,
        _ => {
            let yes = probe_lowerdir_append();
            PROBE.store(if yes { PROBE_YES } else { PROBE_NO }, Ordering::Relaxed);
            yes
        }
    }
}

fn probe_lowerdir_append() -> bool {
    // Before 6.5 overlayfs had no fs_context parser; the VFS then collects
    // any key into a mount(2)-style string and fails only at create. Such
    // a context accepts an option nobody defines, which a real parser
    // refuses. Both probes use fresh contexts that are never created.
    match FsContext::open() {
        Ok(fs) if fs.set_flag("skiff-probe-unknown-option").is_err() => {}
        _ => return false,
    }
    match FsContext::open() {
        Ok(fs) => fs.set_string("lowerdir+", b"/").is_ok(),
        Err(_) => false,
    }
}

/// An overlay fs context (the fd fsopen returns).
struct FsContext {
    fd: OwnedFd,
}

impl FsContext {
    fn open() -> Result<FsContext> {
        let fstype = CStr::from_bytes_with_nul(b"overlay\0").expect("literal has one NUL");
        let fd = unsafe { libc::syscall(SYS_FSOPEN, fstype.as_ptr(), FSOPEN_CLOEXEC) };
        let fd = unsafe { owned_fd(fd as RawFd, "fsopen") }?;
        Ok(FsContext { fd })
    }

    fn set_string(&self, key: &str, value: &[u8]) -> Result<()> {
        if value.len() > MAX_VALUE_LEN {
            return Err(
                SysError::new(libc::ENAMETOOLONG, "fsconfig").with_detail(format!(
                    "{}: fsconfig values are limited to {} bytes",
                    key, MAX_VALUE_LEN
                )),
            );
        }
        let value = CString::new(value).map_err(|_| nul_error(key))?;
        self.fsconfig(FSCONFIG_SET_STRING, key, value.as_ptr())
    }

    fn set_flag(&self, key: &str) -> Result<()> {
        self.fsconfig(FSCONFIG_SET_FLAG, key, std::ptr::null())
    }

    fn create(&self) -> Result<()> {
        self.fsconfig(FSCONFIG_CMD_CREATE, "", std::ptr::null())
    }

    fn fsconfig(&self, cmd: libc::c_uint, key: &str, value: *const libc::c_char) -> Result<()> {
        let ckey = CString::new(key).map_err(|_| nul_error(key))?;
        let key_ptr = if key.is_empty() {
            std::ptr::null()
        } else {
            ckey.as_ptr()
        };
        let rc = unsafe {
            libc::syscall(
                SYS_FSCONFIG,
                self.fd.as_raw_fd(),
                cmd,
                key_ptr,
                value,
                0 as libc::c_int,
            )
        };
        if rc != 0 {
            let err = SysError::last("fsconfig");
            let what = if key.is_empty() { "create" } else { key };
            return Err(match self.kernel_log() {
                Some(log) => err.with_detail(format!("{}: {}", what, log)),
                None => err.with_detail(what),
            });
        }
        Ok(())
    }

    fn fsmount(&self, attrs: libc::c_uint) -> Result<OwnedFd> {
        let fd = unsafe { libc::syscall(SYS_FSMOUNT, self.fd.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
        // errno is taken before kernel_log makes calls of its own.
        unsafe { owned_fd(fd as RawFd, "fsmount") }.map_err(|err| match self.kernel_log() {
            Some(log) => err.with_detail(log),
            None => err,
        })
    }

    /// Drains the messages the kernel queued on the context ("e overlay:
    /// ..."), which say far more than the errno does.
    fn kernel_log(&self) -> Option<String> {
        let mut msgs = Vec::new();
        let mut buf = [0u8; 1024];
        // The queue holds at most 8 messages; the bound is just a backstop.
        for _ in 0..16 {
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf[..n as usize]);
            let line = line.trim_end();
            // Strip the severity prefix ("e ", "w ", "i ").
            let text = match line.get(..2) {
                Some("e ") | Some("w ") | Some("i ") => &line[2..],
                _ => line,
            };
            msgs.push(text.to_string());
        }
        if msgs.is_empty() {
            None
        } else {
            Some(msgs.join("; "))
        }
    }
}

fn nul_error(key: &str) -> SysError {
    SysError::new(libc::EINVAL, "fsconfig")
        .with_detail(format!("{}: value contains a NUL byte", key))
}

fn move_mount(mnt: &OwnedFd, target: &Path) -> Result<()> {
    let ctarget = path_to_cstring(target, "move_mount")?;
    let empty = CStr::from_bytes_with_nul(b"\0").expect("literal has one NUL");
    let rc = unsafe {
        libc::syscall(
            SYS_MOVE_MOUNT,
            mnt.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            ctarget.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc != 0 {
        return Err(SysError::last("move_mount").with_path(target));
    }
    Ok(())
}
