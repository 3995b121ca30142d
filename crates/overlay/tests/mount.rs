//! Mount tests for both kernel interfaces. They need root and overlayfs and
//! print a reason and pass vacuously without them.

mod common;

use std::fs;

use common::{is_mountpoint, skip_unless_can_mount, Layers};
use overlay::{mount, new_api_supported, unmount, MountApi, UnmountOptions};

/// Mount, read through every layer, write through upper, unmount.
fn exercise(layers: &Layers, api: MountApi) {
    let cfg = layers.config();
    mount(&cfg, api).unwrap();
    assert!(is_mountpoint(&layers.merged));

    let merged = &layers.merged;
    assert_eq!(
        fs::read_to_string(merged.join("bottom.txt")).unwrap(),
        "from the bottom layer"
    );
    assert_eq!(
        fs::read_to_string(merged.join("top.txt")).unwrap(),
        "from the top layer"
    );
    // Layer order: the first lowerdir is the topmost one.
    assert_eq!(
        fs::read_to_string(merged.join("shadow.txt")).unwrap(),
        "top"
    );

    fs::write(merged.join("new.txt"), "written").unwrap();
    assert_eq!(
        fs::read_to_string(layers.upper.join("new.txt")).unwrap(),
        "written"
    );
    // Modifying a lower file copies it up; the lower layer stays untouched.
    fs::write(merged.join("bottom.txt"), "changed").unwrap();
    assert_eq!(
        fs::read_to_string(layers.upper.join("bottom.txt")).unwrap(),
        "changed"
    );
    assert_eq!(
        fs::read_to_string(layers.bottom().join("bottom.txt")).unwrap(),
        "from the bottom layer"
    );

    unmount(merged, UnmountOptions::default()).unwrap();
    assert!(!is_mountpoint(merged));
    assert!(!merged.join("bottom.txt").exists());
}

#[test]
fn new_api_mounts_200_long_lower_layers() {
    skip_unless_can_mount!("new_api_mounts_200_long_lower_layers");
    if !new_api_supported() {
        eprintln!("skipping new_api_mounts_200_long_lower_layers: overlayfs lacks lowerdir+ (Linux < 6.8)");
        return;
    }
    let layers = Layers::new("new-200", 200);
    let joined: usize = layers
        .lowerdirs
        .iter()
        .map(|d| d.as_os_str().len() + 1)
        .sum();
    assert!(
        joined > 4096,
        "test layers must not fit in one page ({} bytes)",
        joined
    );
    exercise(&layers, MountApi::New);
}

#[test]
fn legacy_mounts_200_long_lower_layers_via_fd_names() {
    skip_unless_can_mount!("legacy_mounts_200_long_lower_layers_via_fd_names");
    let layers = Layers::new("legacy-200", 200);
    exercise(&layers, MountApi::Legacy);
}

#[test]
fn legacy_mounts_short_option_string_directly() {
    skip_unless_can_mount!("legacy_mounts_short_option_string_directly");
    let layers = Layers::new("legacy-3", 3);
    exercise(&layers, MountApi::Legacy);
    // The plain-path form shows up in the mount table.
    let cfg = layers.config();
    mount(&cfg, MountApi::Legacy).unwrap();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|l| l.contains(layers.merged.to_str().unwrap()))
        .unwrap()
        .to_string();
    unmount(&layers.merged, UnmountOptions::default()).unwrap();
    assert!(
        line.contains(layers.lowerdirs[0].to_str().unwrap()),
        "{}",
        line
    );
}

#[test]
fn auto_mounts_200_long_lower_layers() {
    skip_unless_can_mount!("auto_mounts_200_long_lower_layers");
    let layers = Layers::new("auto-200", 200);
    exercise(&layers, MountApi::Auto);
}

#[test]
fn separators_in_paths_survive_both_apis() {
    skip_unless_can_mount!("separators_in_paths_survive_both_apis");
    let mut apis = vec![MountApi::Legacy];
    if new_api_supported() {
        apis.push(MountApi::New);
    }
    for api in apis {
        // Every path, upper and work included, contains ':' ',' and '\'.
        let name = format!("odd-{:?}", api).to_lowercase();
        let layers = Layers::new_in(&name, 3, "la:y,er\\s");
        let mut cfg = layers.config();
        let odd = layers.base.join("up:p,er\\");
        fs::create_dir_all(odd.join("u")).unwrap();
        fs::create_dir_all(odd.join("w")).unwrap();
        cfg.upperdir = Some(odd.join("u"));
        cfg.workdir = Some(odd.join("w"));
        mount(&cfg, api).unwrap_or_else(|e| panic!("{:?}: {}", api, e));
        let shadow = fs::read_to_string(layers.merged.join("shadow.txt"));
        let bottom = fs::read_to_string(layers.merged.join("bottom.txt"));
        fs::write(layers.merged.join("x"), "x").unwrap();
        unmount(&layers.merged, UnmountOptions::default()).unwrap();
        assert_eq!(shadow.unwrap(), "top", "{:?}", api);
        assert_eq!(bottom.unwrap(), "from the bottom layer", "{:?}", api);
        assert!(odd.join("u/x").exists(), "{:?}", api);
    }
}

#[test]
fn readonly_mount_without_upper_rejects_writes() {
    skip_unless_can_mount!("readonly_mount_without_upper_rejects_writes");
    for api in [MountApi::Auto, MountApi::Legacy] {
        let layers = Layers::new(&format!("ro-{:?}", api).to_lowercase(), 200);
        let mut cfg = layers.config();
        cfg.upperdir = None;
        cfg.workdir = None;
        cfg.readonly = true;
        mount(&cfg, api).unwrap();
        let read = fs::read_to_string(layers.merged.join("bottom.txt"));
        let write = fs::write(layers.merged.join("nope"), "x");
        unmount(&layers.merged, UnmountOptions::default()).unwrap();
        assert_eq!(read.unwrap(), "from the bottom layer");
        assert_eq!(
            write.unwrap_err().raw_os_error(),
            Some(libc::EROFS),
            "{:?}",
            api
        );
    }
}

#[test]
fn extra_options_are_passed_through() {
    skip_unless_can_mount!("extra_options_are_passed_through");
    for api in [MountApi::Auto, MountApi::Legacy] {
        let layers = Layers::new(&format!("opts-{:?}", api).to_lowercase(), 2);
        let mut cfg = layers.config();
        cfg.options = vec!["volatile".to_string(), "metacopy=off".to_string()];
        mount(&cfg, api).unwrap();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        unmount(&layers.merged, UnmountOptions::default()).unwrap();
        let line = mountinfo
            .lines()
            .find(|l| l.contains(layers.merged.to_str().unwrap()))
            .unwrap();
        assert!(line.contains("volatile"), "{:?}: {}", api, line);
    }
}

#[test]
fn missing_lower_layer_is_reported() {
    skip_unless_can_mount!("missing_lower_layer_is_reported");
    let layers = Layers::new("missing", 2);
    let mut cfg = layers.config();
    let gone = layers.base.join("layers/gone/diff");
    cfg.lowerdirs.insert(1, gone.clone());
    if new_api_supported() {
        let err = mount(&cfg, MountApi::New).unwrap_err();
        assert_eq!((err.syscall, err.code()), ("fsconfig", "ENOENT"), "{}", err);
        assert_eq!(err.path.as_deref(), Some(gone.as_path()));
        assert!(err.to_string().contains("lowerdir+"), "{}", err);
    }
    let err = mount(&cfg, MountApi::Legacy).unwrap_err();
    assert_eq!((err.syscall, err.code()), ("mount", "ENOENT"), "{}", err);
    assert_eq!(err.path.as_deref(), Some(gone.as_path()));
    assert_eq!(err.detail.as_deref(), Some("lowerdir"));
    assert!(!is_mountpoint(&layers.merged));

    // A missing target is still reported as the target.
    let mut cfg = layers.config();
    cfg.target = layers.base.join("no-target");
    let err = mount(&cfg, MountApi::Legacy).unwrap_err();
    assert_eq!(err.path.as_deref(), Some(cfg.target.as_path()), "{}", err);
}

#[test]
fn unmounting_a_non_mountpoint_is_einval() {
    skip_unless_can_mount!("unmounting_a_non_mountpoint_is_einval");
    let layers = Layers::new("not-mounted", 1);
    let err = unmount(&layers.merged, UnmountOptions { detach: true }).unwrap_err();
    assert_eq!((err.syscall, err.code()), ("umount2", "EINVAL"));
    assert_eq!(err.path.as_deref(), Some(layers.merged.as_path()));
}

#[test]
fn busy_mount_needs_detach() {
    skip_unless_can_mount!("busy_mount_needs_detach");
    let layers = Layers::new("busy", 2);
    mount(&layers.config(), MountApi::Auto).unwrap();
    let open = fs::File::open(layers.merged.join("top.txt")).unwrap();
    let err = unmount(&layers.merged, UnmountOptions::default()).unwrap_err();
    assert_eq!(err.code(), "EBUSY");
    unmount(&layers.merged, UnmountOptions { detach: true }).unwrap();
    assert!(!is_mountpoint(&layers.merged));
    drop(open);
}

#[test]
fn paths_beyond_fsconfig_limit_fall_back_to_mount2() {
    skip_unless_can_mount!("paths_beyond_fsconfig_limit_fall_back_to_mount2");
    let layers = Layers::new("long-path", 3);
    // fsconfig takes at most 255 bytes per value; this layer needs more.
    let long = layers
        .base
        .join("x".repeat(120))
        .join("y".repeat(120))
        .join("diff");
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("deep.txt"), "deep").unwrap();
    let mut cfg = layers.config();
    cfg.lowerdirs.insert(1, long.clone());
    assert!(long.as_os_str().len() > 255);

    if new_api_supported() {
        let err = mount(&cfg, MountApi::New).unwrap_err();
        assert_eq!(
            (err.syscall, err.code()),
            ("fsconfig", "ENAMETOOLONG"),
            "{}",
            err
        );
        assert_eq!(err.path.as_deref(), Some(long.as_path()));
    }
    mount(&cfg, MountApi::Auto).unwrap();
    let deep = fs::read_to_string(layers.merged.join("deep.txt"));
    unmount(&layers.merged, UnmountOptions::default()).unwrap();
    assert_eq!(deep.unwrap(), "deep");
}
