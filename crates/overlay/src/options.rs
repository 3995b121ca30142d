//! Overlay option syntax: escaping of layer paths and the checks on extra
//! options.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sys_error::{Result, SysError};

/// Backslash-escapes the characters overlay's option parser treats
/// specially: ',' (option separator), ':' (lowerdir separator) and '\'.
/// The kernel strips the backslashes again before path lookup.
pub fn escape_path(path: &Path) -> Vec<u8> {
    let bytes = path.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if matches!(b, b',' | b':' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// Options that name layers: only the typed config fields may set them,
/// since each mount path spells them differently.
const LAYER_KEYS: &[&str] = &["lowerdir", "lowerdir+", "upperdir", "workdir", "datadir+"];

/// An extra option is "key" or "key=value" without commas.
pub fn check_extra(opt: &str) -> Result<()> {
    let reject = |why: &str| {
        Err(SysError::new(libc::EINVAL, "mount").with_detail(format!("option {:?}: {}", opt, why)))
    };
    let (key, _) = split_extra(opt);
    if key.is_empty() {
        return reject("empty option name");
    }
    if opt.contains(',') || opt.contains('\0') {
        return reject("must not contain ',' or NUL");
    }
    if LAYER_KEYS.contains(&key) {
        return reject("layers are set through lowerdirs/upperdir/workdir");
    }
    Ok(())
}

/// "key=value" -> ("key", Some("value")); "flag" -> ("flag", None).
pub fn split_extra(opt: &str) -> (&str, Option<&str>) {
    match opt.find('=') {
        Some(i) => (&opt[..i], Some(&opt[i + 1..])),
        None => (opt, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_separators_and_backslash() {
        assert_eq!(
            escape_path(Path::new("/a:b,c\\d")),
            b"/a\\:b\\,c\\\\d".to_vec()
        );
        assert_eq!(
            escape_path(Path::new("/plain/path")),
            b"/plain/path".to_vec()
        );
    }

    #[test]
    fn splits_key_and_value() {
        assert_eq!(split_extra("metacopy=off"), ("metacopy", Some("off")));
        assert_eq!(split_extra("volatile"), ("volatile", None));
        assert_eq!(split_extra("redirect_dir="), ("redirect_dir", Some("")));
    }
}
