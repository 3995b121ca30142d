//! Image layer extraction: a compressed (gzip, zstd) or plain tar stream is
//! hashed (digest), decompressed, hashed again (diffID) and extracted into
//! an empty layer directory in one streaming pass, fed chunk by chunk with
//! bounded buffering ([`LayerWriter`], threads of its own) or from a reader
//! ([`extract`], on the caller's thread). Either way decompression and
//! file creation run in parallel on two threads.
//!
//! Image content is treated as hostile. Every path is resolved inside the
//! layer directory with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV) and only parent directories are resolved that way; the
//! final component is created with *at calls that never follow it. Entries
//! with `..` components are refused (`ERR_LAYER_HOSTILE_ENTRY`), absolute
//! paths and symlinks stay inside the layer, and hardlinks can only point
//! at files already in the layer. Without openat2 (Linux < 5.6) nothing is
//! extracted. On any failure the directory is emptied again.
//!
//! Also here: [`remove_tree`], a recursive delete that neither follows
//! symlinks nor crosses mounts.

mod digest;
mod error;
mod extract;
mod remove;
mod root;
mod stream;
mod sys;
mod tar;
mod writer;

pub use digest::{Algorithm, Digest};
pub use error::{ErrorKind, LayerError, Result};
pub use remove::remove_tree;
pub use stream::{extract, Compression, LayerSummary, Options};
pub use writer::{Events, LayerWriter, HIGH_WATER, LOW_WATER};
