//! Extraction semantics on real files: every entry type, ownership, modes,
//! times, xattrs, whiteouts, replacement, long names, compression formats.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::Command;

use common::*;
use layer::{Compression, Options};

#[test]
fn every_entry_type_with_metadata() {
    if skip_unless_root("every_entry_type_with_metadata") {
        return;
    }
    let s = Scratch::new("types");
    // security.capability v2 for cap_dac_override,cap_fowner (bits 1 and 3
    // = 0x0a: a newline inside the binary PAX value) +ep.
    let cap: Vec<u8> = vec![
        0x01, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut t = Tar::new();
    let mut d = H::new(b"./etc/", b'5');
    d.mode = 0o750;
    d.uid = 11;
    d.gid = 12;
    d.mtime = 1_000_000_000;
    t.header(&d);
    let mut f = H::new(b"./etc/conf", b'0');
    f.mode = 0o640;
    f.uid = 1000;
    f.gid = 1001;
    f.mtime = 1_234_567_890;
    t.entry(f, b"hello world\n");
    // setuid survives chown (it is applied after), with a capability and a
    // user xattr, sub-second mtime from PAX.
    t.pax(&[
        (b"SCHILY.xattr.security.capability", &cap),
        (b"SCHILY.xattr.user.note", b"a\nb"),
        (b"SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
        (b"mtime", b"1500000000.123456789"),
        (b"atime", b"1400000000.5"),
    ]);
    let mut su = H::new(b"usr/bin/su", b'0');
    su.mode = 0o4755;
    su.uid = 0;
    su.gid = 42;
    t.entry(su, b"\x7fELF");
    let mut sg = H::new(b"srv/shared/", b'5');
    sg.mode = 0o2775;
    sg.gid = 50;
    t.header(&sg);
    let mut sticky = H::new(b"tmp/", b'5');
    sticky.mode = 0o1777;
    t.header(&sticky);
    let mut l = H::new(b"usr/bin/sulink", b'2');
    l.link = b"../../nowhere/../su".to_vec();
    l.uid = 7;
    l.gid = 8;
    l.mtime = 1_111_111_111;
    t.header(&l);
    t.symlink("abs", "/etc/conf");
    t.hardlink("etc/conf-hard", "./etc/conf");
    let mut c = H::new(b"dev/null", b'3');
    c.mode = 0o666;
    c.major = 1;
    c.minor = 3;
    t.header(&c);
    let mut b = H::new(b"dev/loop0", b'4');
    b.mode = 0o660;
    b.major = 7;
    b.minor = 0;
    b.gid = 6;
    t.header(&b);
    let mut p = H::new(b"run/fifo", b'6');
    p.mode = 0o620;
    t.header(&p);
    let tar = t.finish();
    let gz = gzip(&tar);

    let opts = Options {
        expected_digest: Some(sha256(&gz).parse().unwrap()),
        expected_diff_id: Some(sha256(&tar).parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let summary = layer::extract(&s.layer, &opts, &gz[..]).unwrap();
    assert_eq!(summary.digest.to_string(), sha256(&gz));
    assert_eq!(summary.diff_id.to_string(), sha256(&tar));
    assert_eq!(summary.compressed_size, gz.len() as u64);
    assert_eq!(summary.uncompressed_size, tar.len() as u64);
    assert_eq!(summary.entries, 11);

    let m = fs::symlink_metadata(s.path("etc")).unwrap();
    assert!(m.is_dir());
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o750, 11, 12));
    // Set after its children were created.
    assert_eq!(m.mtime(), 1_000_000_000);

    let m = fs::symlink_metadata(s.path("etc/conf")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o640, 1000, 1001));
    assert_eq!(m.mtime(), 1_234_567_890);
    assert_eq!(m.nlink(), 2);
    assert_eq!(fs::read(s.path("etc/conf")).unwrap(), b"hello world\n");
    let h = fs::symlink_metadata(s.path("etc/conf-hard")).unwrap();
    assert_eq!((h.ino(), h.dev()), (m.ino(), m.dev()));

    let m = fs::symlink_metadata(s.path("usr/bin/su")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 0, 42));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_500_000_000, 123_456_789));
    assert_eq!((m.atime(), m.atime_nsec()), (1_400_000_000, 500_000_000));
    assert_eq!(
        get_xattr(&s.path("usr/bin/su"), "security.capability"),
        Some(cap)
    );
    assert_eq!(
        get_xattr(&s.path("usr/bin/su"), "user.note"),
        Some(b"a\nb".to_vec())
    );
    assert_eq!(
        get_xattr(&s.path("usr/bin/su"), "trusted.overlay.redirect"),
        None
    );
    // Implicit parents: 0755, root.
    let m = fs::symlink_metadata(s.path("usr/bin")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o755, 0));

    let m = fs::symlink_metadata(s.path("srv/shared")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.gid()), (0o2775, 50));
    let m = fs::symlink_metadata(s.path("tmp")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o1777);

    let m = fs::symlink_metadata(s.path("usr/bin/sulink")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!((m.uid(), m.gid(), m.mtime()), (7, 8, 1_111_111_111));
    assert_eq!(
        fs::read_link(s.path("usr/bin/sulink")).unwrap().to_str(),
        Some("../../nowhere/../su")
    );
    assert_eq!(
        fs::read_link(s.path("abs")).unwrap().to_str(),
        Some("/etc/conf")
    );

    let m = fs::symlink_metadata(s.path("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), libc::makedev(1, 3));
    assert_eq!(m.mode() & 0o7777, 0o666);
    let m = fs::symlink_metadata(s.path("dev/loop0")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!(
        (m.rdev(), m.gid(), m.mode() & 0o7777),
        (libc::makedev(7, 0), 6, 0o660)
    );
    let m = fs::symlink_metadata(s.path("run/fifo")).unwrap();
    assert!(m.file_type().is_fifo());
    assert_eq!(m.mode() & 0o7777, 0o620);
}

#[test]
fn root_entry_sets_the_layer_roots_metadata() {
    if skip_unless_root("root_entry_sets_the_layer_roots_metadata") {
        return;
    }
    let s = Scratch::new("rootentry");
    let mut t = Tar::new();
    let mut d = H::new(b"./", b'5');
    d.mode = 0o700;
    d.uid = 5;
    d.mtime = 999;
    t.header(&d);
    t.file("x", b"x", 0o644);
    extract_tar(&s, &t.finish()).unwrap();
    let m = fs::metadata(&s.layer).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.mtime()), (0o700, 5, 999));
}

#[test]
fn whiteouts_and_opaque_directories() {
    if skip_unless_root("whiteouts_and_opaque_directories") {
        return;
    }
    let s = Scratch::new("whiteout");
    let mut t = Tar::new();
    t.file("gone", b"replaced by its whiteout", 0o644);
    t.file(".wh.gone", b"", 0o644);
    t.file("etc/.wh.removed", b"", 0o644);
    t.dir("opaque/", 0o755);
    t.file("opaque/.wh..wh..opq", b"", 0o644);
    t.file("opaque/kept", b"k", 0o644);
    // The opaque marker may come before (or without) its directory.
    t.file("implied/.wh..wh..opq", b"", 0o644);
    t.file(".wh..wh..opq", b"", 0o644);
    // AUFS bookkeeping is not content.
    t.file(".wh..wh.plnk/123.456", b"", 0o644);
    extract_tar(&s, &t.finish()).unwrap();

    for name in ["gone", "etc/removed"] {
        let m = fs::symlink_metadata(s.path(name)).unwrap();
        assert!(m.file_type().is_char_device(), "{} is a whiteout", name);
        assert_eq!(m.rdev(), 0);
    }
    assert!(fs::symlink_metadata(s.path(".wh.gone")).is_err());
    assert_eq!(
        get_xattr(&s.path("opaque"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert!(s.path("opaque/kept").exists());
    assert!(!s.path("opaque/.wh..wh..opq").exists());
    assert_eq!(
        get_xattr(&s.path("implied"), "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert_eq!(
        get_xattr(&s.layer, "trusted.overlay.opaque"),
        Some(b"y".to_vec())
    );
    assert!(!s.path(".wh..wh.plnk").exists());
}

#[test]
fn later_entries_replace_earlier_ones() {
    if skip_unless_root("later_entries_replace_earlier_ones") {
        return;
    }
    let s = Scratch::new("replace");
    let sentinel = Sentinel::new("replace");
    let host_file = sentinel.dir.join("file");
    let mut t = Tar::new();
    // file over file
    t.file("f", b"one", 0o644);
    t.file("f", b"two", 0o600);
    // dir over file, file over dir (with contents)
    t.file("d1", b"file", 0o644);
    t.dir("d1/", 0o755);
    t.file("d2/child", b"c", 0o644);
    t.file("d2", b"now a file", 0o644);
    // dir over dir merges, the later mode wins
    t.dir("m/", 0o755);
    t.file("m/a", b"a", 0o644);
    t.dir("m/", 0o700);
    t.file("m/b", b"b", 0o644);
    // a file over a symlink to a host file replaces the symlink itself
    t.symlink("link", host_file.to_str().unwrap());
    t.file("link", b"layer content", 0o644);
    // a directory over a symlink to a host directory, likewise
    t.symlink("dlink", sentinel.dir.to_str().unwrap());
    t.dir("dlink/", 0o700);
    t.file("dlink/file", b"pwned?", 0o644);
    // symlink over a directory
    t.file("sd/x", b"x", 0o644);
    t.symlink("sd", "elsewhere");
    // hardlink over the file it links to is a no-op
    t.file("same", b"same", 0o644);
    t.hardlink("same", "same");
    extract_tar(&s, &t.finish()).unwrap();

    assert_eq!(fs::read(s.path("f")).unwrap(), b"two");
    assert_eq!(fs::metadata(s.path("f")).unwrap().mode() & 0o777, 0o600);
    assert!(fs::symlink_metadata(s.path("d1")).unwrap().is_dir());
    assert_eq!(fs::read(s.path("d2")).unwrap(), b"now a file");
    assert_eq!(fs::metadata(s.path("m")).unwrap().mode() & 0o777, 0o700);
    assert!(s.path("m/a").exists() && s.path("m/b").exists());
    assert_eq!(fs::read(s.path("link")).unwrap(), b"layer content");
    assert!(fs::symlink_metadata(s.path("link")).unwrap().is_file());
    assert!(fs::symlink_metadata(s.path("dlink")).unwrap().is_dir());
    assert_eq!(fs::read(s.path("dlink/file")).unwrap(), b"pwned?");
    assert_eq!(
        fs::read_link(s.path("sd")).unwrap().to_str(),
        Some("elsewhere")
    );
    assert_eq!(fs::read(s.path("same")).unwrap(), b"same");
    sentinel.assert_untouched();
}

#[test]
fn long_names_from_gnu_and_pax_writers() {
    if skip_unless_root("long_names_from_gnu_and_pax_writers") {
        return;
    }
    let long_dir = "d".repeat(120);
    let long_name = format!("{}/{}", long_dir, "f".repeat(150));
    let long_target = format!("{}/{}", long_dir, "t".repeat(140));
    for format in ["gnu", "ustar-pax"] {
        let s = Scratch::new(&format!("long-{}", format));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = if format == "gnu" {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        };
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(5);
        h.set_mtime(1_600_000_000);
        if format == "gnu" {
            // GNU 'L' / 'K' entries.
            b.append_data(&mut h, &long_name, &b"hello"[..]).unwrap();
            let mut l = tar::Header::new_gnu();
            l.set_entry_type(tar::EntryType::Symlink);
            l.set_size(0);
            b.append_link(&mut l, "sym", &long_target).unwrap();
        } else {
            // PAX path/linkpath, written by hand.
            let mut pax = Vec::new();
            pax.extend_from_slice(&pax_record(b"path", long_name.as_bytes()));
            let mut ph = tar::Header::new_ustar();
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_size(pax.len() as u64);
            ph.set_path("PaxHeaders/f").unwrap();
            ph.set_cksum();
            b.append(&ph, &pax[..]).unwrap();
            h.set_path("short-name-overridden").unwrap();
            h.set_cksum();
            b.append(&h, &b"hello"[..]).unwrap();
            let pax = pax_record(b"linkpath", long_target.as_bytes());
            ph.set_size(pax.len() as u64);
            ph.set_cksum();
            b.append(&ph, &pax[..]).unwrap();
            let mut l = tar::Header::new_ustar();
            l.set_entry_type(tar::EntryType::Symlink);
            l.set_path("sym").unwrap();
            l.set_link_name("short").unwrap();
            l.set_size(0);
            l.set_cksum();
            b.append(&l, &[][..]).unwrap();
        }
        let data = b.into_inner().unwrap();
        let summary = extract_tar(&s, &data).unwrap();
        assert_eq!(summary.entries, 2, "{}", format);
        assert_eq!(
            fs::read(s.path(&long_name)).unwrap(),
            b"hello",
            "{}",
            format
        );
        assert!(!s.path("short-name-overridden").exists());
        assert_eq!(
            fs::read_link(s.path("sym")).unwrap().to_str(),
            Some(long_target.as_str()),
            "{}",
            format
        );
    }
}

fn round_trip(compression: Compression, encode: fn(&[u8]) -> Vec<u8>, name: &str) {
    let s = Scratch::new(name);
    let mut t = Tar::new();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    t.file("big", &big, 0o644);
    t.file("small", b"small", 0o644);
    let tar = t.finish();
    let compressed = encode(&tar);
    let opts = Options {
        expected_digest: Some(sha256(&compressed).parse().unwrap()),
        expected_diff_id: Some(sha256(&tar).parse().unwrap()),
        ..options(compression)
    };
    let summary = layer::extract(&s.layer, &opts, &compressed[..]).unwrap();
    assert_eq!(summary.diff_id.to_string(), sha256(&tar));
    assert_eq!(summary.uncompressed_size, tar.len() as u64);
    assert_eq!(fs::read(s.path("big")).unwrap(), big);
}

#[test]
fn zstd_round_trip() {
    if skip_unless_root("zstd_round_trip") {
        return;
    }
    round_trip(Compression::Zstd, zstd, "zstd");
}

#[test]
fn uncompressed_round_trip() {
    if skip_unless_root("uncompressed_round_trip") {
        return;
    }
    round_trip(Compression::None, |d| d.to_vec(), "none");
}

#[test]
fn multi_member_gzip() {
    if skip_unless_root("multi_member_gzip") {
        return;
    }
    let s = Scratch::new("multigz");
    let mut t = Tar::new();
    t.file("a", b"aaaa", 0o644);
    let tar = t.finish();
    let (one, two) = tar.split_at(700);
    let mut gz = gzip(one);
    gz.extend_from_slice(&gzip(two));
    layer::extract(&s.layer, &options(Compression::Gzip), &gz[..]).unwrap();
    assert_eq!(fs::read(s.path("a")).unwrap(), b"aaaa");
}

#[test]
fn sha512_digests() {
    if skip_unless_root("sha512_digests") {
        return;
    }
    use sha2::{Digest as _, Sha512};
    let s = Scratch::new("sha512");
    let mut t = Tar::new();
    t.file("a", b"a", 0o644);
    let tar = t.finish();
    let gz = gzip(&tar);
    let hex: String = Sha512::digest(&gz)
        .iter()
        .map(|b| format!("{:02x}", b))
        .collect();
    let opts = Options {
        expected_digest: Some(format!("sha512:{}", hex).parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let summary = layer::extract(&s.layer, &opts, &gz[..]).unwrap();
    assert_eq!(summary.digest.to_string(), format!("sha512:{}", hex));
    assert_eq!(summary.diff_id.to_string(), sha256(&tar));
}

#[test]
fn refuses_a_non_empty_directory_and_leaves_it_alone() {
    let s = Scratch::new("nonempty");
    fs::write(s.path("keep"), b"mine").unwrap();
    let mut t = Tar::new();
    t.file("x", b"x", 0o644);
    let err = extract_tar(&s, &t.finish()).unwrap_err();
    assert_eq!(err.code(), "ENOTEMPTY", "{}", err);
    assert_eq!(fs::read(s.path("keep")).unwrap(), b"mine");
    assert!(!s.path("x").exists());
}

#[test]
fn refuses_a_symlink_as_the_layer_directory() {
    let s = Scratch::new("rootlink");
    let link = s.dir.join("link");
    std::os::unix::fs::symlink(&s.layer, &link).unwrap();
    let mut t = Tar::new();
    t.file("x", b"x", 0o644);
    let err = layer::extract(&link, &options(Compression::None), &t.finish()[..]).unwrap_err();
    assert_eq!(err.code(), "ENOTDIR", "{}", err);
    assert!(s.is_layer_empty());
}

/// Sparse files from GNU tar (old GNU and PAX 1.0 formats) keep their holes.
#[test]
fn gnu_tar_sparse_files() {
    if skip_unless_root("gnu_tar_sparse_files") {
        return;
    }
    if Command::new("tar").arg("--version").output().is_err() {
        eprintln!("skipping gnu_tar_sparse_files: no tar");
        return;
    }
    let src = Scratch::new("sparse-src");
    let f = src.path("sparse");
    {
        let file = fs::File::create(&f).unwrap();
        file.set_len(64 << 20).unwrap();
        use std::os::unix::fs::FileExt;
        file.write_at(b"start", 0).unwrap();
        file.write_at(b"middle", 32 << 20).unwrap();
        file.write_at(b"end", (64 << 20) - 3).unwrap();
    }
    let expected = fs::read(&f).unwrap();
    for (format, version) in [
        ("gnu", ""),
        ("posix", "0.0"),
        ("posix", "0.1"),
        ("posix", "1.0"),
    ] {
        let mut cmd = Command::new("tar");
        cmd.args(["--sparse", &format!("--format={}", format)]);
        if !version.is_empty() {
            cmd.arg(format!("--sparse-version={}", version));
        }
        let out = cmd
            .arg("-C")
            .arg(&src.layer)
            .args(["-cf", "-", "sparse"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let format = format!("{}{}", format, version);
        let s = Scratch::new(&format!("sparse-{}", format));
        let opts = Options {
            expected_diff_id: Some(sha256(&out.stdout).parse().unwrap()),
            ..options(Compression::None)
        };
        layer::extract(&s.layer, &opts, &out.stdout[..]).unwrap();
        let got = fs::read(s.path("sparse")).unwrap();
        assert!(got == expected, "{} sparse content", format);
        let m = fs::metadata(s.path("sparse")).unwrap();
        assert!(
            m.blocks() * 512 < 1 << 20,
            "{}: holes kept ({} blocks)",
            format,
            m.blocks()
        );
    }
}

/// GNU tar's own PAX archive of a tree (xattrs, hardlinks, long names)
/// comes out the same as GNU tar extracts it.
#[test]
fn matches_gnu_tar_extraction() {
    if skip_unless_root("matches_gnu_tar_extraction") {
        return;
    }
    if Command::new("tar").arg("--version").output().is_err() {
        eprintln!("skipping matches_gnu_tar_extraction: no tar");
        return;
    }
    let src = Scratch::new("gnu-src");
    let root = &src.layer;
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::write(root.join("a/file"), b"file").unwrap();
    fs::write(root.join(format!("a/b/c/{}", "n".repeat(200))), b"long").unwrap();
    fs::hard_link(root.join("a/file"), root.join("a/b/hard")).unwrap();
    std::os::unix::fs::symlink("../file", root.join("a/b/sym")).unwrap();
    let setx = |p: &std::path::Path, k: &str, v: &[u8]| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        let k = std::ffi::CString::new(k).unwrap();
        let rc = unsafe { libc::lsetxattr(c.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
        assert_eq!(rc, 0);
    };
    setx(&root.join("a/file"), "user.k", b"v");
    let cmd = |args: &[&str]| {
        let st = Command::new("tar").args(args).status().unwrap();
        assert!(st.success(), "tar {:?}", args);
    };
    let tarball = src.dir.join("t.tar");
    cmd(&[
        "--xattrs",
        "--xattrs-include=*",
        "--format=pax",
        "-C",
        root.to_str().unwrap(),
        "-cf",
        tarball.to_str().unwrap(),
        ".",
    ]);
    let ours = Scratch::new("gnu-ours");
    let data = fs::read(&tarball).unwrap();
    layer::extract(&ours.layer, &options(Compression::None), &data[..]).unwrap();
    let theirs = Scratch::new("gnu-theirs");
    cmd(&[
        "--xattrs",
        "--xattrs-include=*",
        "--numeric-owner",
        "-C",
        theirs.layer.to_str().unwrap(),
        "-xpf",
        tarball.to_str().unwrap(),
    ]);
    let strip = |s: &Scratch| -> Vec<(String, String)> {
        snapshot(&s.layer)
            .into_iter()
            .map(|(p, v)| {
                let rel = p
                    .strip_prefix(&s.layer)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (rel, v)
            })
            .collect()
    };
    assert_eq!(strip(&ours), strip(&theirs));
}
