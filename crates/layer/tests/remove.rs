//! `remove_tree`: never follows symlinks, never crosses mounts.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use common::*;
use layer::remove_tree;

#[test]
fn removes_a_tree_without_following_symlinks() {
    let s = Scratch::new("rm");
    let sentinel = Sentinel::new("rm");
    let root = s.dir.join("victim");
    fs::create_dir_all(root.join("x/y/z")).unwrap();
    for i in 0..300 {
        fs::write(root.join(format!("x/f{}", i)), b"data").unwrap();
    }
    fs::write(root.join("x/y/z/deep"), b"deep").unwrap();
    symlink(&sentinel.dir, root.join("to-host-dir")).unwrap();
    symlink(sentinel.dir.join("file"), root.join("x/to-host-file")).unwrap();
    symlink("../../..", root.join("x/y/up")).unwrap();
    // Unwritable, unreadable directories are no obstacle (as root).
    fs::set_permissions(root.join("x/y"), fs::Permissions::from_mode(0o000)).unwrap();
    let r = remove_tree(&root);
    if !is_root() {
        let _ = fs::set_permissions(root.join("x/y"), fs::Permissions::from_mode(0o755));
    }
    if is_root() {
        r.unwrap();
        assert!(!root.exists());
    }
    sentinel.assert_untouched();
}

#[test]
fn removes_only_the_symlink_itself() {
    let s = Scratch::new("rm-link");
    let sentinel = Sentinel::new("rm-link");
    let link = s.dir.join("link");
    symlink(&sentinel.dir, &link).unwrap();
    remove_tree(&link).unwrap();
    assert!(fs::symlink_metadata(&link).is_err());
    sentinel.assert_untouched();
}

#[test]
fn missing_path_is_enoent() {
    let s = Scratch::new("rm-missing");
    let err = remove_tree(&s.dir.join("nope")).unwrap_err();
    assert_eq!(err.code(), "ENOENT");
    assert_eq!(err.path.as_deref(), Some(s.dir.join("nope").as_path()));
}

fn mount_tmpfs(target: &std::path::Path) -> bool {
    let c = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    let rc = unsafe {
        libc::mount(
            b"tmpfs\0".as_ptr().cast(),
            c.as_ptr(),
            b"tmpfs\0".as_ptr().cast(),
            0,
            std::ptr::null(),
        )
    };
    rc == 0
}

fn bind_mount(source: &std::path::Path, target: &std::path::Path) -> bool {
    let s = std::ffi::CString::new(source.to_str().unwrap()).unwrap();
    let t = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    rc == 0
}

fn umount(target: &std::path::Path) {
    let c = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
}

#[test]
fn stops_at_mount_points() {
    if skip_unless_root("stops_at_mount_points") {
        return;
    }
    let s = Scratch::new("rm-mount");
    let sentinel = Sentinel::new("rm-mount");
    let root = s.dir.join("victim");
    // A tmpfs, and a bind mount of the same filesystem (same st_dev).
    let tmp = root.join("d/tmpfs");
    let bind = root.join("e/bind");
    fs::create_dir_all(&tmp).unwrap();
    fs::create_dir_all(&bind).unwrap();
    if !mount_tmpfs(&tmp) {
        eprintln!("skipping stops_at_mount_points: cannot mount tmpfs");
        return;
    }
    fs::write(tmp.join("precious"), b"keep").unwrap();
    let bound = bind_mount(&sentinel.dir, &bind);
    let r1 = remove_tree(&root);
    let still_tmp = fs::read(tmp.join("precious")).ok();
    umount(&tmp);
    let r2 = remove_tree(&root);
    let still_bind = bound && sentinel.dir.join("file").exists();
    if bound {
        umount(&bind);
    }
    let e1 = r1.unwrap_err();
    assert_eq!(e1.code(), "EXDEV", "{}", e1);
    assert_eq!(still_tmp.as_deref(), Some(&b"keep"[..]));
    if bound {
        let e2 = r2.unwrap_err();
        assert_eq!(e2.code(), "EXDEV", "{}", e2);
        assert_eq!(e2.path.as_deref(), Some(bind.as_path()));
        assert!(still_bind);
    }
    sentinel.assert_untouched();
    if root.exists() {
        remove_tree(&root).unwrap();
    }

    // The path itself a mount point: refused before anything is removed.
    let m = s.dir.join("mnt");
    fs::create_dir(&m).unwrap();
    assert!(mount_tmpfs(&m));
    fs::write(m.join("inside"), b"x").unwrap();
    let err = remove_tree(&m).unwrap_err();
    let inside = m.join("inside").exists();
    umount(&m);
    assert_eq!(err.code(), "EXDEV");
    assert!(inside);
}
