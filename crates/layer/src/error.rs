//! `LayerError`: why a layer was refused. Either a failed system call (a
//! `SysError`, reported with its errno name as the code) or a problem with
//! the layer itself, reported with an `ERR_LAYER_*` code. Both name the tar
//! entry they are about when there is one.

use std::fmt;

use sys_error::SysError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A system call failed; `LayerError::sys` says which.
    System,
    /// The compressed bytes do not hash to the expected digest.
    DigestMismatch,
    /// The uncompressed tar stream does not hash to the expected diffID.
    DiffIdMismatch,
    /// The input ended before the compressed stream or the tar archive did.
    Truncated,
    /// An entry tries to reach outside the layer (`..`, hostile whiteout...).
    HostileEntry,
    /// The uncompressed stream exceeds `max_uncompressed_bytes`.
    TooLarge,
    /// Not a well-formed (compressed) tar stream.
    Format,
    /// `abort()` was called.
    Aborted,
    /// Input arrived after `finish()` or `abort()`.
    WriteAfterEnd,
}

impl ErrorKind {
    /// The `code` JavaScript sees for layer-level errors.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::System => "ERR_LAYER_SYSTEM",
            ErrorKind::DigestMismatch => "ERR_LAYER_DIGEST_MISMATCH",
            ErrorKind::DiffIdMismatch => "ERR_LAYER_DIFFID_MISMATCH",
            ErrorKind::Truncated => "ERR_LAYER_TRUNCATED",
            ErrorKind::HostileEntry => "ERR_LAYER_HOSTILE_ENTRY",
            ErrorKind::TooLarge => "ERR_LAYER_TOO_LARGE",
            ErrorKind::Format => "ERR_LAYER_FORMAT",
            ErrorKind::Aborted => "ERR_LAYER_ABORTED",
            ErrorKind::WriteAfterEnd => "ERR_STREAM_WRITE_AFTER_END",
        }
    }
}

/// Boxed so that `Result<T, LayerError>` stays small on the hot paths;
/// the fields are reached through `Deref` (`err.kind`, `err.message`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerError(Box<Details>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub kind: ErrorKind,
    /// Human-readable description (for System errors, the SysError's text).
    pub message: String,
    /// The tar entry's path as written in the archive, when the error is
    /// about one entry.
    pub entry: Option<String>,
    /// Set for `ErrorKind::System`.
    pub sys: Option<SysError>,
    /// For digest/diffID mismatches: (expected, actual).
    pub mismatch: Option<(String, String)>,
}

impl std::ops::Deref for LayerError {
    type Target = Details;
    fn deref(&self) -> &Details {
        &self.0
    }
}

impl std::ops::DerefMut for LayerError {
    fn deref_mut(&mut self) -> &mut Details {
        &mut self.0
    }
}

pub type Result<T> = std::result::Result<T, LayerError>;

impl LayerError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> LayerError {
        LayerError(Box::new(Details {
            kind,
            message: message.into(),
            entry: None,
            sys: None,
            mismatch: None,
        }))
    }

    pub fn sys(err: SysError) -> LayerError {
        LayerError(Box::new(Details {
            kind: ErrorKind::System,
            message: err.to_string(),
            entry: None,
            sys: Some(err),
            mismatch: None,
        }))
    }

    /// A layer-level error about one entry: the message is prefixed with
    /// "layer entry '<path>': ".
    pub fn entry(kind: ErrorKind, entry: &[u8], what: impl fmt::Display) -> LayerError {
        let name = String::from_utf8_lossy(entry).into_owned();
        let mut err = LayerError::new(kind, format!("layer entry '{}': {}", name, what));
        err.entry = Some(name);
        err
    }

    /// A failed system call while applying `entry`.
    pub fn sys_entry(err: SysError, entry: &[u8]) -> LayerError {
        let mut e = LayerError::sys(err);
        e.entry = Some(String::from_utf8_lossy(entry).into_owned());
        e
    }

    pub fn aborted() -> LayerError {
        LayerError::new(ErrorKind::Aborted, "layer extraction was aborted")
    }

    /// The `code` JavaScript sees: the errno name for system errors, else
    /// the `ERR_LAYER_*` code.
    pub fn code(&self) -> &'static str {
        match &self.sys {
            Some(sys) => sys.code(),
            None => self.kind.code(),
        }
    }
}

impl fmt::Display for LayerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LayerError {}

impl From<SysError> for LayerError {
    fn from(err: SysError) -> LayerError {
        LayerError::sys(err)
    }
}
