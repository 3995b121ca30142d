//! The fd-named fallback must close every layer fd it opened. Its own test
//! binary, so no other test opens fds while this one counts.

mod common;

use common::{skip_unless_can_mount, Layers};
use overlay::{mount, unmount, MountApi, UnmountOptions};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn legacy_fd_names_leak_no_fds_and_keep_cwd() {
    skip_unless_can_mount!("legacy_fd_names_leak_no_fds_and_keep_cwd");
    let layers = Layers::new("fds", 200);
    let cwd = std::env::current_dir().unwrap();
    let before = open_fds();
    mount(&layers.config(), MountApi::Legacy).unwrap();
    let after = open_fds();
    unmount(&layers.merged, UnmountOptions::default()).unwrap();
    assert_eq!(before, after);
    assert_eq!(std::env::current_dir().unwrap(), cwd);

    // Failure halfway through opening the layers closes what was opened.
    let mut cfg = layers.config();
    cfg.lowerdirs.push(layers.base.join("layers/missing/diff"));
    let err = mount(&cfg, MountApi::Legacy).unwrap_err();
    assert_eq!((err.syscall, err.code()), ("open", "ENOENT"), "{}", err);
    assert_eq!(open_fds(), before);
}
