use super::*;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fsusage-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn allocated(path: &Path) -> u64 {
    fs::symlink_metadata(path).unwrap().blocks() * 512
}

#[test]
fn counts_nested_tree_hardlinks_once_and_symlinks_as_themselves() {
    let s = Scratch::new("tree");
    let root = &s.0;
    fs::write(root.join("a"), vec![1u8; 10_000]).unwrap();
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::write(root.join("sub/b"), vec![2u8; 5_000]).unwrap();
    fs::write(root.join("sub/deeper/c"), b"c").unwrap();
    fs::hard_link(root.join("a"), root.join("sub/a-link")).unwrap();
    fs::hard_link(root.join("a"), root.join("sub/deeper/a-link2")).unwrap();
    // A symlink to something big outside the tree must count only itself.
    let outside = Scratch::new("tree-outside");
    fs::write(outside.0.join("big"), vec![3u8; 1 << 20]).unwrap();
    symlink(outside.0.join("big"), root.join("link")).unwrap();
    symlink(&outside.0, root.join("dirlink")).unwrap();

    let counted = [
        "",
        "a",
        "sub",
        "sub/b",
        "sub/deeper",
        "sub/deeper/c",
        "link",
        "dirlink",
    ];
    let expected_bytes: u64 = counted.iter().map(|p| allocated(&root.join(p))).sum();

    let usage = dir_usage(root).unwrap();
    assert_eq!(usage.inodes, counted.len() as u64);
    assert_eq!(usage.bytes, expected_bytes);
    assert!(
        usage.bytes >= 16_384,
        "file data must be counted: {:?}",
        usage
    );
    assert!(
        usage.bytes < 1 << 20,
        "symlink target must not be counted: {:?}",
        usage
    );
}

#[test]
fn file_root_counts_itself() {
    let s = Scratch::new("file");
    let file = s.0.join("f");
    fs::write(&file, vec![0u8; 8192]).unwrap();
    let usage = dir_usage(&file).unwrap();
    assert_eq!(
        usage,
        Usage {
            bytes: allocated(&file),
            inodes: 1
        }
    );
}

#[test]
fn missing_root_is_enoent_with_path() {
    let s = Scratch::new("missing");
    let path = s.0.join("nope");
    let err = dir_usage(&path).unwrap_err();
    assert_eq!(err.code(), "ENOENT");
    assert_eq!(err.path.as_deref(), Some(path.as_path()));
}

#[test]
fn entry_vanishing_between_listing_and_stat_is_skipped() {
    let s = Scratch::new("vanish");
    let root_c = path_to_cstring(&s.0, "fstatat").unwrap();
    let st = dir::stat_at(None, &root_c).unwrap();
    let root_fd = DirFd::open_at(None, &root_c, &st).unwrap();
    let mut walk = Walk {
        dev: st.dev,
        seen: HashSet::new(),
        usage: Usage::default(),
        stack: vec![Level::new(root_fd, None)],
    };
    // As if getdents had listed a name that was unlinked right after.
    walk.visit(CString::new("gone").unwrap()).unwrap();
    assert_eq!(walk.usage, Usage::default());
}

#[test]
fn does_not_enter_other_filesystems() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping does_not_enter_other_filesystems: needs root to mount tmpfs");
        return;
    }
    let s = Scratch::new("xdev");
    let mnt = s.0.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let target = path_to_cstring(&mnt, "mount").unwrap();
    let rc = unsafe {
        libc::mount(
            b"tmpfs\0".as_ptr().cast(),
            target.as_ptr(),
            b"tmpfs\0".as_ptr().cast(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        eprintln!(
            "skipping does_not_enter_other_filesystems: {}",
            SysError::last("mount")
        );
        return;
    }
    fs::write(mnt.join("hidden"), vec![1u8; 1 << 20]).unwrap();
    let usage = dir_usage(&s.0);
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    let usage = usage.unwrap();
    // Only the scratch root itself: the tmpfs root and its file are skipped.
    assert_eq!(
        usage,
        Usage {
            bytes: allocated(&s.0),
            inodes: 1
        }
    );
}
