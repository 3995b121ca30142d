//! What to mount, and the checks both mount paths rely on.

use std::path::{Path, PathBuf};

use sys_error::{Result, SysError};

use crate::options;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayConfig {
    /// Lower layers, topmost first (the order of overlay's `lowerdir=`).
    pub lowerdirs: Vec<PathBuf>,
    /// Writable layer; requires `workdir`. Without it the mount is read-only.
    pub upperdir: Option<PathBuf>,
    pub workdir: Option<PathBuf>,
    pub target: PathBuf,
    /// Mount read-only (superblock and mount).
    pub readonly: bool,
    /// Further overlay options, "key" or "key=value", e.g. "volatile",
    /// "metacopy=off". Layers must go through the fields above.
    pub options: Vec<String>,
}

impl OverlayConfig {
    /// Rejects what the kernel would reject less clearly, or what the
    /// fallback path cannot express. Errors are EINVAL from "mount".
    pub fn validate(&self) -> Result<()> {
        if self.lowerdirs.is_empty() {
            return Err(invalid("at least one lowerdir is required"));
        }
        for dir in &self.lowerdirs {
            check_path("lowerdir", dir)?;
        }
        match (&self.upperdir, &self.workdir) {
            (Some(upper), Some(work)) => {
                check_path("upperdir", upper)?;
                check_path("workdir", work)?;
            }
            (None, None) => {}
            _ => return Err(invalid("upperdir and workdir must be given together")),
        }
        check_path("target", &self.target)?;
        for opt in &self.options {
            options::check_extra(opt)?;
        }
        Ok(())
    }
}

fn invalid(detail: &str) -> SysError {
    SysError::new(libc::EINVAL, "mount").with_detail(detail)
}

fn check_path(what: &str, path: &Path) -> Result<()> {
    // Absolute paths only: the fallback resolves lower layers from a
    // different working directory (/proc/self/fd).
    if !path.is_absolute() {
        return Err(invalid(&format!("{} must be an absolute path", what)).with_path(path));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> OverlayConfig {
        OverlayConfig {
            lowerdirs: vec!["/l1".into(), "/l2".into()],
            upperdir: Some("/u".into()),
            workdir: Some("/w".into()),
            target: "/t".into(),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_plain_config() {
        cfg().validate().unwrap();
    }

    #[test]
    fn rejects_empty_lowerdirs() {
        let mut c = cfg();
        c.lowerdirs.clear();
        assert_eq!(c.validate().unwrap_err().errno, libc::EINVAL);
    }

    #[test]
    fn rejects_upper_without_work() {
        let mut c = cfg();
        c.workdir = None;
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("together"), "{}", err);
    }

    #[test]
    fn rejects_relative_paths() {
        let mut c = cfg();
        c.lowerdirs.push("rel".into());
        let err = c.validate().unwrap_err();
        assert_eq!(err.path.as_deref(), Some(Path::new("rel")));
    }

    #[test]
    fn rejects_layer_options_and_commas() {
        for bad in [
            "lowerdir=/x",
            "upperdir=/x",
            "workdir=/x",
            "lowerdir+=/x",
            "a,b",
            "",
        ] {
            let mut c = cfg();
            c.options.push(bad.to_string());
            assert!(c.validate().is_err(), "{:?} accepted", bad);
        }
    }
}
