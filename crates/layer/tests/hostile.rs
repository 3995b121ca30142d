//! Hostile layers: every attempt to reach outside the layer directory is
//! either refused (ERR_LAYER_HOSTILE_ENTRY, layer emptied) or lands inside
//! the layer; host sentinels never change and nothing appears next to the
//! layer. Also integrity failures: digests, truncation, bombs.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::*;
use layer::{Compression, Options};

/// Nothing was created next to the layer directory (the scratch tree holds
/// exactly a/b/layer).
fn assert_nothing_beside(s: &Scratch) {
    let mut names: Vec<String> = Vec::new();
    let mut stack = vec![s.dir.clone()];
    while let Some(p) = stack.pop() {
        if p == s.layer {
            continue;
        }
        for e in fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            names.push(
                e.path()
                    .strip_prefix(&s.dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    names.sort();
    assert_eq!(
        names,
        vec!["a", "a/b", "a/b/layer"],
        "something escaped the layer"
    );
}

#[test]
fn dotdot_paths_are_refused() {
    if skip_unless_root("dotdot_paths_are_refused") {
        return;
    }
    for (i, name) in [
        "../escape",
        "a/../../escape",
        "./../escape",
        "x/y/../../../../escape",
        "..",
    ]
    .iter()
    .enumerate()
    {
        let s = Scratch::new(&format!("dotdot{}", i));
        let mut t = Tar::new();
        t.file("ok-before", b"ok", 0o644);
        t.file(name, b"pwned", 0o644);
        assert_hostile(&s, extract_tar(&s, &t.finish()), name);
        assert_nothing_beside(&s);
        assert!(!s.dir.join("a/escape").exists() && !s.dir.join("escape").exists());
    }
}

#[test]
fn dotdot_directories_symlinks_and_devices_are_refused() {
    let s = Scratch::new("dotdot-kinds");
    let mut t = Tar::new();
    t.dir("../escape-dir/", 0o755);
    assert_hostile(&s, extract_tar(&s, &t.finish()), "../escape-dir/");
    let mut t = Tar::new();
    t.symlink("../escape-link", "/");
    assert_hostile(&s, extract_tar(&s, &t.finish()), "../escape-link");
    let mut t = Tar::new();
    let mut h = H::new(b"../escape-node", b'3');
    h.major = 1;
    h.minor = 3;
    t.header(&h);
    assert_hostile(&s, extract_tar(&s, &t.finish()), "../escape-node");
    // A PAX path overriding an innocent header name.
    let mut t = Tar::new();
    t.pax(&[(b"path", b"innocent/../../escape-pax")]);
    t.file("innocent", b"x", 0o644);
    assert_hostile(
        &s,
        extract_tar(&s, &t.finish()),
        "innocent/../../escape-pax",
    );
    assert_nothing_beside(&s);
}

#[test]
fn absolute_paths_land_inside_the_layer() {
    if skip_unless_root("absolute_paths_land_inside_the_layer") {
        return;
    }
    let s = Scratch::new("absolute");
    let sentinel = Sentinel::new("absolute");
    let mut t = Tar::new();
    let target = format!("{}/x", sentinel.dir.display());
    let over = format!("{}/file", sentinel.dir.display());
    t.file(&target, b"inside", 0o644);
    t.file(&over, b"overwritten?", 0o600);
    t.dir(&format!("{}/sub/", sentinel.dir.display()), 0o700);
    extract_tar(&s, &t.finish()).unwrap();
    let inside = s.layer.join(sentinel.dir.strip_prefix("/").unwrap());
    assert_eq!(fs::read(inside.join("x")).unwrap(), b"inside");
    assert_eq!(fs::read(inside.join("file")).unwrap(), b"overwritten?");
    assert!(!sentinel.dir.join("x").exists());
    sentinel.assert_untouched();
    assert_nothing_beside(&s);
}

/// `evil -> /` (or `../../..`) then `evil/tmp/<sentinel>/pwned`: written
/// through the symlink, but the symlink resolves inside the layer.
#[test]
fn symlinked_parents_stay_inside_the_layer() {
    if skip_unless_root("symlinked_parents_stay_inside_the_layer") {
        return;
    }
    for (i, target) in [
        "/",
        "../../..",
        "../../../../../../../tmp",
        "/proc/self/root",
    ]
    .iter()
    .enumerate()
    {
        let s = Scratch::new(&format!("evil{}", i));
        let sentinel = Sentinel::new(&format!("evil{}", i));
        let mut t = Tar::new();
        t.dir("tmp/", 0o755);
        t.symlink("evil", target);
        let through = if target.ends_with("tmp") {
            format!("evil/{}/pwned", sentinel.name)
        } else {
            format!("evil/tmp/{}/pwned", sentinel.name)
        };
        t.file(&through, b"pwned", 0o644);
        t.file(&format!("{}/../file-over", through), b"x", 0o644);
        let r = extract_tar(&s, &t.finish());
        if *target == "/proc/self/root" {
            assert!(r.is_err() && s.is_layer_empty());
        } else {
            // The second file has '..': refused, layer emptied. Without it
            // the first lands inside; check both halves separately.
            assert_hostile(&s, r, &format!("{}/../file-over", through));
        }
        sentinel.assert_untouched();
        assert!(!sentinel.dir.join("pwned").exists());

        let mut t = Tar::new();
        t.dir("tmp/", 0o755);
        t.symlink("evil", target);
        t.file(&through, b"pwned", 0o644);
        t.dir(&format!("evil/tmp/{}/sub/", sentinel.name), 0o700);
        t.file(&format!("evil/tmp/{}/file", sentinel.name), b"over", 0o644);
        match extract_tar(&s, &t.finish()) {
            Ok(_) => {
                let inside = s.layer.join("tmp").join(&sentinel.name);
                assert_eq!(
                    fs::read(inside.join("pwned")).unwrap(),
                    b"pwned",
                    "target {}",
                    target
                );
            }
            // Inside the layer, /proc/self/root is a dangling symlink: no
            // directory can be made through it.
            Err(e) => {
                assert_eq!(*target, "/proc/self/root", "{}", e);
                assert!(s.is_layer_empty());
            }
        }
        assert!(!sentinel.dir.join("pwned").exists());
        sentinel.assert_untouched();
        assert_nothing_beside(&s);
    }
}

#[test]
fn symlink_chains_stay_inside_the_layer() {
    if skip_unless_root("symlink_chains_stay_inside_the_layer") {
        return;
    }
    let s = Scratch::new("chain");
    let sentinel = Sentinel::new("chain");
    let mut t = Tar::new();
    t.dir("two/", 0o755);
    t.symlink("one", "two/..//../three");
    t.symlink("three", sentinel.dir.to_str().unwrap());
    t.dir(&format!("{}/", sentinel.dir.display()), 0o755);
    t.file("one/file", b"chained", 0o644);
    t.file("three/sub/inner", b"chained too", 0o644);
    extract_tar(&s, &t.finish()).unwrap();
    let inside = s.layer.join(sentinel.dir.strip_prefix("/").unwrap());
    assert_eq!(fs::read(inside.join("file")).unwrap(), b"chained");
    assert_eq!(fs::read(inside.join("sub/inner")).unwrap(), b"chained too");
    sentinel.assert_untouched();
    assert_nothing_beside(&s);
}

#[test]
fn hardlinks_never_reach_host_files() {
    if skip_unless_root("hardlinks_never_reach_host_files") {
        return;
    }
    let s = Scratch::new("hardlink");
    let sentinel = Sentinel::new("hardlink");
    let host = sentinel.dir.join("file");
    let nlink = fs::metadata(&host).unwrap().nlink();

    // Absolute: resolved in the layer, where it does not exist.
    let mut t = Tar::new();
    t.hardlink("h", host.to_str().unwrap());
    let err = extract_tar(&s, &t.finish()).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_FORMAT", "{}", err);
    assert_eq!(err.entry.as_deref(), Some("h"));
    assert!(s.is_layer_empty());

    // Through a symlink to / : still the layer's root.
    let mut t = Tar::new();
    t.symlink("evil", "/");
    t.hardlink("h", &format!("evil{}", host.display()));
    assert!(extract_tar(&s, &t.finish()).is_err());
    assert!(s.is_layer_empty());

    // ../ forms: hostile.
    let rel = format!("../../../../../../..{}", host.display());
    let mut t = Tar::new();
    t.hardlink("h", &rel);
    let err = extract_tar(&s, &t.finish()).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_HOSTILE_ENTRY", "{}", err);
    assert_eq!(err.entry.as_deref(), Some("h"));
    assert!(err.message.contains("hardlink target"), "{}", err);
    assert!(s.is_layer_empty());

    // An absolute target that exists in the layer links the layer's file.
    let mut t = Tar::new();
    t.file(&host.display().to_string(), b"layer's own", 0o644);
    t.hardlink("h", host.to_str().unwrap());
    extract_tar(&s, &t.finish()).unwrap();
    let inside = s.layer.join(host.strip_prefix("/").unwrap());
    assert_eq!(
        fs::metadata(s.path("h")).unwrap().ino(),
        fs::metadata(&inside).unwrap().ino()
    );
    assert_eq!(fs::read(s.path("h")).unwrap(), b"layer's own");

    // Hardlink to a directory: refused.
    let s2 = Scratch::new("hardlink-dir");
    let mut t = Tar::new();
    t.dir("d/", 0o755);
    t.hardlink("h", "d");
    let err = extract_tar(&s2, &t.finish()).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_FORMAT", "{}", err);
    assert!(s2.is_layer_empty());

    assert_eq!(fs::metadata(&host).unwrap().nlink(), nlink);
    sentinel.assert_untouched();
    assert_nothing_beside(&s);
}

#[test]
fn hostile_whiteouts_are_refused() {
    for (i, name) in [
        ".wh...",
        "../.wh.x",
        "a/.wh..",
        ".wh.",
        "a/../../.wh.escape",
    ]
    .iter()
    .enumerate()
    {
        let s = Scratch::new(&format!("wh{}", i));
        let mut t = Tar::new();
        t.file(name, b"", 0o644);
        assert_hostile(&s, extract_tar(&s, &t.finish()), name);
        assert_nothing_beside(&s);
    }
}

#[test]
fn whiteouts_through_symlinks_stay_inside() {
    if skip_unless_root("whiteouts_through_symlinks_stay_inside") {
        return;
    }
    let s = Scratch::new("wh-link");
    let sentinel = Sentinel::new("wh-link");
    // Dangling inside the layer: nothing is made through it.
    let mut t = Tar::new();
    t.symlink("evil", sentinel.dir.to_str().unwrap());
    t.file("evil/.wh.file", b"", 0o644);
    let err = extract_tar(&s, &t.finish()).unwrap_err();
    assert_eq!(err.code(), "EEXIST", "{}", err);
    assert!(err.message.contains("symlink"), "{}", err);
    assert!(s.is_layer_empty());
    sentinel.assert_untouched();

    let mut t = Tar::new();
    t.dir(&format!("{}/", sentinel.dir.display()), 0o755);
    t.symlink("evil", sentinel.dir.to_str().unwrap());
    t.file("evil/.wh.file", b"", 0o644);
    t.file("evil/sub/.wh..wh..opq", b"", 0o644);
    extract_tar(&s, &t.finish()).unwrap();
    let inside = s.layer.join(sentinel.dir.strip_prefix("/").unwrap());
    assert_eq!(fs::metadata(inside.join("file")).unwrap().rdev(), 0);
    assert_eq!(
        get_xattr(&inside.join("sub"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    sentinel.assert_untouched();
    assert_nothing_beside(&s);
}

#[test]
fn digest_and_diffid_mismatches_empty_the_layer() {
    if skip_unless_root("digest_and_diffid_mismatches_empty_the_layer") {
        return;
    }
    let s = Scratch::new("mismatch");
    let mut t = Tar::new();
    t.file("a/b", b"content", 0o644);
    let tar = t.finish();
    let gz = gzip(&tar);
    let wrong = format!("sha256:{}", "0".repeat(64));

    let opts = Options {
        expected_digest: Some(wrong.parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let err = layer::extract(&s.layer, &opts, &gz[..]).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_DIGEST_MISMATCH");
    assert_eq!(err.mismatch, Some((wrong.clone(), sha256(&gz))));
    assert!(s.is_layer_empty());

    let opts = Options {
        expected_digest: Some(sha256(&gz).parse().unwrap()),
        expected_diff_id: Some(wrong.parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let err = layer::extract(&s.layer, &opts, &gz[..]).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_DIFFID_MISMATCH");
    assert_eq!(err.mismatch, Some((wrong, sha256(&tar))));
    assert!(s.is_layer_empty());

    // The diffID covers everything after the end marker too.
    let mut padded = tar.clone();
    padded.extend(std::iter::repeat(0).take(8192));
    let opts = Options {
        expected_diff_id: Some(sha256(&tar).parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let err = layer::extract(&s.layer, &opts, &gzip(&padded)[..]).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_DIFFID_MISMATCH");
    let opts = Options {
        expected_diff_id: Some(sha256(&padded).parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let ok = layer::extract(&s.layer, &opts, &gzip(&padded)[..]).unwrap();
    assert_eq!(ok.uncompressed_size, padded.len() as u64);
}

#[test]
fn truncated_streams_are_refused() {
    if skip_unless_root("truncated_streams_are_refused") {
        return;
    }
    let mut t = Tar::new();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    t.file("a", &data, 0o644);
    t.file("b", b"b", 0o644);
    let tar = t.finish();
    let gz = gzip(&tar);
    let zs = zstd(&tar);
    let cases: Vec<(&str, Compression, Vec<u8>)> = vec![
        ("gzip-mid", Compression::Gzip, gz[..gz.len() / 2].to_vec()),
        (
            "gzip-no-trailer",
            Compression::Gzip,
            gz[..gz.len() - 4].to_vec(),
        ),
        ("gzip-header", Compression::Gzip, gz[..5].to_vec()),
        ("gzip-empty", Compression::Gzip, Vec::new()),
        ("zstd-mid", Compression::Zstd, zs[..zs.len() / 2].to_vec()),
        ("zstd-end", Compression::Zstd, zs[..zs.len() - 3].to_vec()),
        ("tar-mid-data", Compression::None, tar[..100_000].to_vec()),
        // Cut exactly at an entry boundary: no end-of-archive marker.
        (
            "tar-boundary",
            Compression::None,
            tar[..tar.len() - 1024].to_vec(),
        ),
        (
            "tar-mid-header",
            Compression::None,
            tar[..tar.len() - 1024 - 700].to_vec(),
        ),
        ("tar-empty", Compression::None, Vec::new()),
    ];
    for (name, compression, input) in cases {
        let s = Scratch::new(&format!("trunc-{}", name));
        let err = layer::extract(&s.layer, &options(compression), &input[..]).unwrap_err();
        assert_eq!(err.code(), "ERR_LAYER_TRUNCATED", "{}: {}", name, err);
        assert!(s.is_layer_empty(), "{}", name);
    }
    // Garbage instead of gzip is a format error.
    let s = Scratch::new("trunc-garbage");
    let err = layer::extract(&s.layer, &options(Compression::Gzip), &tar[..]).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_FORMAT", "{}", err);
}

#[test]
fn corrupt_headers_are_format_errors() {
    let s = Scratch::new("corrupt");
    let mut t = Tar::new();
    t.file("a", b"a", 0o644);
    let mut tar = t.finish();
    tar[0] = b'b'; // checksum no longer matches
    let err = layer::extract(&s.layer, &options(Compression::None), &tar[..]).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_FORMAT", "{}", err);
    assert!(err.message.contains("checksum"), "{}", err);

    let mut t = Tar::new();
    t.header(&H::new(b"weird", b'Z'));
    let err = layer::extract(&s.layer, &options(Compression::None), &t.finish()[..]).unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_FORMAT", "{}", err);
    assert_eq!(err.entry.as_deref(), Some("weird"));
}

/// 1 GiB of zeros in ~1 MiB of gzip (concatenated members), against a
/// 64 MiB quota: refused quickly, with nothing left behind.
#[test]
fn gzip_bomb_hits_the_quota_fast() {
    if skip_unless_root("gzip_bomb_hits_the_quota_fast") {
        return;
    }
    let s = Scratch::new("bomb");
    let mut h = H::new(b"zeros", b'0');
    h.size = 1 << 30;
    let mut t = Tar::new();
    t.header(&h);
    let mut bomb = gzip(&t.buf);
    let mib = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 1 << 20]).unwrap();
        enc.finish().unwrap()
    };
    for _ in 0..1024 {
        bomb.extend_from_slice(&mib);
    }
    bomb.extend_from_slice(&gzip(&[0u8; 1024]));
    assert!(bomb.len() < 4 << 20, "bomb is {} bytes", bomb.len());

    let opts = Options {
        max_uncompressed_bytes: Some(64 << 20),
        ..options(Compression::Gzip)
    };
    let started = Instant::now();
    let err = layer::extract(&s.layer, &opts, &bomb[..]).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), "ERR_LAYER_TOO_LARGE", "{}", err);
    assert!(err.message.contains("67108864"), "{}", err);
    assert!(took < Duration::from_secs(5), "took {:?}", took);
    assert!(s.is_layer_empty());
}
