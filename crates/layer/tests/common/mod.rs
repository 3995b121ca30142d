//! Test helpers: a tar writer that writes whatever it is told (hostile
//! names included), compression, scratch directories and host sentinels.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use layer::{Compression, LayerError, LayerSummary, Options};
use sha2::{Digest as _, Sha256};

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Skips (returns true) when not root: extraction chowns and mknods.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {}: needs root", test);
    true
}

/// A fresh directory under /tmp, removed on drop. `layer` is the empty
/// extraction directory inside it.
pub struct Scratch {
    pub dir: PathBuf,
    pub layer: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(format!("/tmp/layer-test-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("a/b/layer")).unwrap();
        let layer = dir.join("a/b/layer");
        Scratch { dir, layer }
    }

    pub fn is_layer_empty(&self) -> bool {
        fs::read_dir(&self.layer).unwrap().next().is_none()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.layer.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A host directory with a file and a subdirectory that hostile layers
/// try to reach. `assert_untouched` compares everything under it (names,
/// types, modes, owners, sizes, times, link counts, contents) with how it
/// was made.
pub struct Sentinel {
    pub dir: PathBuf,
    pub name: String,
    before: BTreeMap<PathBuf, String>,
}

impl Sentinel {
    pub fn new(test: &str) -> Sentinel {
        let name = format!("skiff-sentinel-{}-{}", std::process::id(), test);
        let dir = PathBuf::from("/tmp").join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("file"), b"original").unwrap();
        fs::write(dir.join("sub/inner"), b"inner").unwrap();
        let before = snapshot(&dir);
        Sentinel { dir, name, before }
    }

    pub fn assert_untouched(&self) {
        assert_eq!(snapshot(&self.dir), self.before, "host sentinel changed");
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Everything about a tree that an escape could change.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let content = if m.is_file() {
            format!("{:?}", fs::read(&p).unwrap())
        } else if m.file_type().is_symlink() {
            format!("-> {:?}", fs::read_link(&p).unwrap())
        } else {
            String::new()
        };
        out.insert(
            p.clone(),
            format!(
                "mode={:o} uid={} gid={} size={} mtime={}.{} nlink={} xattrs={:?} {}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.nlink(),
                list_xattrs(&p),
                content
            ),
        );
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

pub fn list_xattrs(p: &Path) -> Vec<String> {
    let c = std::ffi::CString::new(p.as_os_str().to_str().unwrap()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut names: Vec<String> = buf[..n as usize]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    names.sort();
    names
}

pub fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.as_os_str().to_str().unwrap()).unwrap();
    let k = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = unsafe { libc::lgetxattr(c.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[derive(Clone)]
pub struct H {
    pub name: Vec<u8>,
    pub typeflag: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: u64,
    pub link: Vec<u8>,
    pub major: u32,
    pub minor: u32,
}

impl H {
    pub fn new(name: &[u8], typeflag: u8) -> H {
        H {
            name: name.to_vec(),
            typeflag,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 1_600_000_000,
            link: Vec::new(),
            major: 0,
            minor: 0,
        }
    }
}

/// Writes ustar headers and PAX records exactly as asked.
#[derive(Default)]
pub struct Tar {
    pub buf: Vec<u8>,
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}", v, width = field.len() - 1);
    assert!(s.len() < field.len(), "value {} does not fit", v);
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
}

pub fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = len.to_string().into_bytes();
    r.push(b' ');
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    assert_eq!(r.len(), len);
    r
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    pub fn header(&mut self, h: &H) -> &mut Tar {
        assert!(h.name.len() <= 100 && h.link.len() <= 100);
        let mut b = [0u8; 512];
        b[..h.name.len()].copy_from_slice(&h.name);
        octal(&mut b[100..108], u64::from(h.mode));
        octal(&mut b[108..116], u64::from(h.uid));
        octal(&mut b[116..124], u64::from(h.gid));
        octal(&mut b[124..136], h.size);
        octal(&mut b[136..148], h.mtime);
        b[156] = h.typeflag;
        b[157..157 + h.link.len()].copy_from_slice(&h.link);
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        octal(&mut b[329..337], u64::from(h.major));
        octal(&mut b[337..345], u64::from(h.minor));
        b[148..156].copy_from_slice(b"        ");
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        octal(&mut b[148..155], u64::from(sum));
        b[155] = b' ';
        self.buf.extend_from_slice(&b);
        self
    }

    pub fn data(&mut self, data: &[u8]) -> &mut Tar {
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat(0).take(pad));
        self
    }

    pub fn pax(&mut self, records: &[(&[u8], &[u8])]) -> &mut Tar {
        let mut data = Vec::new();
        for (k, v) in records {
            data.extend_from_slice(&pax_record(k, v));
        }
        let mut h = H::new(b"PaxHeaders/x", b'x');
        h.size = data.len() as u64;
        self.header(&h).data(&data)
    }

    pub fn entry(&mut self, h: H, data: &[u8]) -> &mut Tar {
        let mut h = h;
        h.size = data.len() as u64;
        self.header(&h).data(data)
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Tar {
        let mut h = H::new(name.as_bytes(), b'0');
        h.mode = mode;
        self.entry(h, data)
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Tar {
        let mut h = H::new(name.as_bytes(), b'5');
        h.mode = mode;
        self.header(&h)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        let mut h = H::new(name.as_bytes(), b'2');
        h.mode = 0o777;
        h.link = target.as_bytes().to_vec();
        self.header(&h)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
        let mut h = H::new(name.as_bytes(), b'1');
        h.link = target.as_bytes().to_vec();
        self.header(&h)
    }

    /// The archive with its two zero blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend(std::iter::repeat(0).take(1024));
        out
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::from("sha256:");
    for b in d {
        s.push_str(&format!("{:02x}", b));
    }
    s
}

pub fn options(compression: Compression) -> Options {
    Options {
        compression,
        sync: false,
        ..Options::default()
    }
}

/// Extracts an uncompressed tar (gzipped first) into the scratch layer.
pub fn extract_tar(s: &Scratch, tar: &[u8]) -> Result<LayerSummary, LayerError> {
    layer::extract(&s.layer, &options(Compression::Gzip), &gzip(tar)[..])
}

/// Asserts a hostile-entry refusal naming `entry`, and an emptied layer.
pub fn assert_hostile(s: &Scratch, result: Result<LayerSummary, LayerError>, entry: &str) {
    let err = result.expect_err("hostile layer must be refused");
    assert_eq!(err.code(), "ERR_LAYER_HOSTILE_ENTRY", "{}", err);
    assert_eq!(err.entry.as_deref(), Some(entry), "{}", err);
    assert!(
        err.message.contains(entry),
        "message names the entry: {}",
        err
    );
    assert!(s.is_layer_empty(), "layer emptied after failure");
}
