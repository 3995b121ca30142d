//! Paths resolved inside a root directory, as if it were `/`: openat2(2)
//! with RESOLVE_IN_ROOT clamps `..`, absolute paths and absolute symlinks
//! to the root, so image content (a layer being extracted, a container's
//! rootfs) cannot lead a lookup to a host file however its symlinks are
//! laid out. Magic links (/proc/self/fd/N and friends) are never followed.
//!
//! - [`openat2`] and the resolve flag sets, shared with the layer
//!   extractor;
//! - [`mkdir_all`] creates a directory and its missing parents inside a
//!   root, each new level made by mkdirat on its resolved parent's fd;
//! - [`read_file`] reads a small regular file inside a root (an image's
//!   /etc/passwd) without opening anything but a regular file;
//! - [`mkdir_in_root`] and [`read_file_in_root`] do the same starting from
//!   host paths;
//! - [`create_file_in_root`] makes a regular file inside a root, never
//!   following its last name, for another program to open by path.
//!
//! Without openat2 (Linux < 5.6) every lookup fails with ENOSYS: there is
//! no unconfined fallback.

mod clean;
mod fs;
mod sys;

pub use clean::clean;
pub use fs::{create_file_in_root, host_path, mkdir_all, mkdir_in_root, open_root, read_file, read_file_in_root, Root};
pub use sys::{openat2, RESOLVE_CONFINED, RESOLVE_ROOTED};
