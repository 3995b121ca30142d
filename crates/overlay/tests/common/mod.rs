//! Layer trees for the mount tests: N lower layers with long, image-store
//! style paths (<base>/layers/<64 hex>/diff), plus upper, work and merged.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::path::{Path, PathBuf};

use overlay::{unmount, OverlayConfig, UnmountOptions};

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root to mount".to_string());
    }
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems
        .lines()
        .any(|l| l.trim_end().ends_with("\toverlay"))
    {
        return Some("kernel has no overlayfs".to_string());
    }
    None
}

macro_rules! skip_unless_can_mount {
    ($name:expr) => {
        if let Some(reason) = common::skip_reason() {
            eprintln!("skipping {}: {}", $name, reason);
            return;
        }
    };
}
pub(crate) use skip_unless_can_mount;

pub struct Layers {
    pub base: PathBuf,
    /// Topmost first.
    pub lowerdirs: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl Layers {
    /// `count` lower layers. The lowest holds bottom.txt, the topmost
    /// top.txt, and both hold shadow.txt with different contents.
    pub fn new(name: &str, count: usize) -> Layers {
        Layers::new_in(name, count, "layers")
    }

    /// Like `new`, with `layers_dir` as the directory holding the layers
    /// (to put awkward characters in every path).
    pub fn new_in(name: &str, count: usize, layers_dir: &str) -> Layers {
        let base =
            std::env::temp_dir().join(format!("overlay-test-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&base);
        let lowerdirs: Vec<PathBuf> = (0..count)
            .map(|i| base.join(layers_dir).join(fake_digest(i)).join("diff"))
            .collect();
        for dir in &lowerdirs {
            fs::create_dir_all(dir).unwrap();
        }
        let top = &lowerdirs[0];
        let bottom = &lowerdirs[count - 1];
        fs::write(top.join("top.txt"), "from the top layer").unwrap();
        fs::write(bottom.join("bottom.txt"), "from the bottom layer").unwrap();
        fs::write(bottom.join("shadow.txt"), "bottom").unwrap();
        fs::write(top.join("shadow.txt"), "top").unwrap();
        let layers = Layers {
            upper: base.join("upper"),
            work: base.join("work"),
            merged: base.join("merged"),
            base,
            lowerdirs,
        };
        for dir in [&layers.upper, &layers.work, &layers.merged] {
            fs::create_dir_all(dir).unwrap();
        }
        layers
    }

    pub fn config(&self) -> OverlayConfig {
        OverlayConfig {
            lowerdirs: self.lowerdirs.clone(),
            upperdir: Some(self.upper.clone()),
            workdir: Some(self.work.clone()),
            target: self.merged.clone(),
            ..Default::default()
        }
    }

    pub fn bottom(&self) -> &Path {
        &self.lowerdirs[self.lowerdirs.len() - 1]
    }
}

impl Drop for Layers {
    fn drop(&mut self) {
        // A failed assertion must not leave a mount behind.
        while is_mountpoint(&self.merged) {
            if unmount(&self.merged, UnmountOptions { detach: true }).is_err() {
                break;
            }
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// A 64-hex-digit name like an image layer digest.
fn fake_digest(i: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..4)
        .map(|_| {
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            format!("{:016x}", x)
        })
        .collect()
}

pub fn is_mountpoint(path: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let wanted = path.to_string_lossy();
    mounts.lines().any(|line| {
        line.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(wanted.as_ref())
    })
}

/// mountinfo octal-escapes space, tab, newline and backslash.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
