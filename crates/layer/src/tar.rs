//! A streaming tar reader for the formats image layers come in: ustar,
//! GNU (long names/links 'L'/'K', old sparse 'S', base-256 numbers) and
//! PAX ('x' records for path, linkpath, size, uid, gid, mtime, atime,
//! SCHILY.xattr.*, and GNU sparse 0.0/0.1/1.0). PAX records are parsed by
//! their length prefix, so binary values (security.capability) may contain
//! any byte, newlines included.
//!
//! It only parses: entries come out as plain data, and the data of regular
//! files is handed out in buffer-sized slices. It knows where the archive
//! ends (a zero block), so a stream that stops early is `Truncated`, never a
//! shorter layer.

use crate::error::{ErrorKind, LayerError, Result};

/// Where the uncompressed tar bytes come from.
pub trait Source {
    /// Reads up to `buf.len()` bytes; 0 only at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;
}

const BLOCK: usize = 512;
const BUF_SIZE: usize = 256 * 1024;
/// Upper bound on PAX, GNU long name and sparse map data (as Go's archive/tar).
const MAX_META: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// A sparse file: data segments (offset, length) in file order, the data
/// itself following in the archive back to back; the rest are holes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sparse {
    pub segments: Vec<(u64, u64)>,
    pub real_size: u64,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    /// The path as written (after GNU long name / PAX path), not cleaned.
    pub path: Vec<u8>,
    /// Symlink target or hardlink target, as written.
    pub link: Vec<u8>,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Time,
    pub atime: Option<Time>,
    /// Bytes of data that follow in the archive (for sparse files, only
    /// the stored segments).
    pub size: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// (name, value) from SCHILY.xattr.* records.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub sparse: Option<Sparse>,
}

pub struct TarReader<S> {
    src: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Data bytes of the current entry not yet handed out, and the padding
    /// to the next block boundary after them.
    remaining: u64,
    pad: u64,
    /// Path of the current entry, for errors.
    current: Vec<u8>,
    ended: bool,
}

fn format_err(msg: impl Into<String>) -> LayerError {
    LayerError::new(ErrorKind::Format, msg)
}

fn truncated(entry: Option<&[u8]>) -> LayerError {
    match entry {
        Some(path) => LayerError::entry(
            ErrorKind::Truncated,
            path,
            "the layer ends in the middle of this entry",
        ),
        None => LayerError::new(
            ErrorKind::Truncated,
            "the layer ends without a tar end-of-archive marker (truncated stream)",
        ),
    }
}

impl<S: Source> TarReader<S> {
    pub fn new(src: S) -> TarReader<S> {
        TarReader {
            src,
            buf: vec![0; BUF_SIZE],
            start: 0,
            end: 0,
            remaining: 0,
            pad: 0,
            current: Vec::new(),
            ended: false,
        }
    }

    pub fn into_source(self) -> S {
        self.src
    }

    /// Reads more input after what is buffered; 0 at the end.
    fn fill(&mut self) -> Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.src.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Makes `n` (<= buffer size) bytes available; false at the end of input.
    fn ensure(&mut self, n: usize) -> Result<bool> {
        while self.end - self.start < n {
            if self.buf.len() - self.start < n {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.fill()? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Consumes `n` bytes; false if the input ends first.
    fn skip(&mut self, mut n: u64) -> Result<bool> {
        while n > 0 {
            if self.start == self.end && self.fill()? == 0 {
                return Ok(false);
            }
            let take = n.min((self.end - self.start) as u64) as usize;
            self.start += take;
            n -= take as u64;
        }
        Ok(true)
    }

    /// The next 512-byte block; None at a clean end of input.
    fn block(&mut self) -> Result<Option<[u8; BLOCK]>> {
        if !self.ensure(BLOCK)? {
            if self.start == self.end {
                return Ok(None);
            }
            return Err(truncated(None));
        }
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(&self.buf[self.start..self.start + BLOCK]);
        self.start += BLOCK;
        Ok(Some(block))
    }

    /// Reads the whole (small) data of a metadata entry, with its padding.
    fn meta(&mut self, size: u64, what: &str) -> Result<Vec<u8>> {
        if size > MAX_META {
            return Err(format_err(format!(
                "{} of {} bytes exceeds the {} byte limit",
                what, size, MAX_META
            )));
        }
        let mut out = Vec::with_capacity(size as usize);
        let mut left = size as usize;
        while left > 0 {
            if self.start == self.end && self.fill()? == 0 {
                return Err(truncated(None));
            }
            let take = left.min(self.end - self.start);
            out.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
            left -= take;
        }
        if !self.skip(padding(size))? {
            return Err(truncated(None));
        }
        Ok(out)
    }

    /// The next entry, or None after the end-of-archive marker. Data of the
    /// previous entry that was not read is skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        if self.ended {
            return Ok(None);
        }
        let rest = self.remaining + self.pad;
        if !self.skip(rest)? {
            return Err(truncated(Some(&self.current)));
        }
        self.remaining = 0;
        self.pad = 0;

        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Option<Pax> = None;
        loop {
            let block = match self.block()? {
                Some(block) => block,
                None => return Err(truncated(None)),
            };
            if block.iter().all(|&b| b == 0) {
                if long_name.is_some() || long_link.is_some() || pax.is_some() {
                    return Err(format_err(
                        "an extended header is followed by the end of the archive",
                    ));
                }
                self.ended = true;
                return Ok(None);
            }
            let header = Header::parse(&block)?;
            match header.typeflag {
                b'x' => {
                    let data = self.meta(header.size, "a PAX header")?;
                    pax = Some(Pax::parse(&data)?);
                }
                b'g' => {
                    // Global PAX headers (e.g. git archive's commit id) are
                    // ignored, as Docker and containerd do.
                    self.meta(header.size, "a PAX global header")?;
                }
                b'L' => long_name = Some(trim_nul(self.meta(header.size, "a GNU long name")?)),
                b'K' => long_link = Some(trim_nul(self.meta(header.size, "a GNU long link")?)),
                b'V' => {
                    // GNU volume label: not a file.
                    if !self.skip(header.size + padding(header.size))? {
                        return Err(truncated(None));
                    }
                }
                _ => return self.entry(header, long_name, long_link, pax.unwrap_or_default()),
            }
        }
    }

    fn entry(
        &mut self,
        header: Header,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        pax: Pax,
    ) -> Result<Option<Entry>> {
        let mut path = pax
            .path
            .clone()
            .or(long_name)
            .unwrap_or_else(|| header.name.clone());
        if let Some(name) = &pax.sparse_name {
            path = name.clone();
        }
        let link = pax
            .linkpath
            .clone()
            .or(long_link)
            .unwrap_or_else(|| header.linkname.clone());
        let size = pax.size.unwrap_or(header.size);
        let bad = |what: &str| LayerError::entry(ErrorKind::Format, &path, what);
        let id = |v: Option<u64>, h: i64, what: &str| -> Result<u32> {
            let v = match v {
                Some(v) => v,
                None => u64::try_from(h).map_err(|_| bad(what))?,
            };
            u32::try_from(v).map_err(|_| bad(what))
        };
        let uid = id(pax.uid, header.uid, "uid out of range")?;
        let gid = id(pax.gid, header.gid, "gid out of range")?;
        let kind = match header.typeflag {
            b'0' | b'7' | b'S' => Kind::File,
            b'\0' if path.ends_with(b"/") => Kind::Dir,
            b'\0' => Kind::File,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' | b'D' => Kind::Dir,
            b'6' => Kind::Fifo,
            other => {
                return Err(bad(&format!(
                    "unsupported tar entry type {:?}",
                    char::from(other)
                )))
            }
        };
        let mut entry = Entry {
            kind,
            path,
            link,
            mode: (header.mode & 0o7777) as u32,
            uid,
            gid,
            mtime: pax.mtime.unwrap_or(Time {
                sec: header.mtime,
                nsec: 0,
            }),
            atime: pax.atime,
            size,
            dev_major: u32::try_from(header.dev_major).unwrap_or(0),
            dev_minor: u32::try_from(header.dev_minor).unwrap_or(0),
            xattrs: pax.xattrs.clone(),
            sparse: None,
        };
        if matches!(kind, Kind::Char | Kind::Block)
            && (u32::try_from(header.dev_major).is_err()
                || u32::try_from(header.dev_minor).is_err())
        {
            return Err(LayerError::entry(
                ErrorKind::Format,
                &entry.path,
                "device number out of range",
            ));
        }
        self.current = entry.path.clone();
        self.remaining = size;
        self.pad = padding(size);

        if header.typeflag == b'S' {
            let sparse = self.old_gnu_sparse(&header.block)?;
            entry.sparse = Some(sparse);
        } else if kind == Kind::File && pax.is_sparse() {
            entry.sparse = Some(self.pax_sparse(&pax)?);
            entry.size = self.remaining;
        }
        if let Some(sparse) = &entry.sparse {
            check_sparse(sparse, entry.size)
                .map_err(|what| LayerError::entry(ErrorKind::Format, &entry.path, what))?;
        }
        Ok(Some(entry))
    }

    /// Old GNU sparse ('S'): 4 descriptors in the header, more in extension
    /// blocks that follow it (not counted in the entry's size).
    fn old_gnu_sparse(&mut self, block: &[u8; BLOCK]) -> Result<Sparse> {
        let current = self.current.clone();
        let bad = |what: &str| LayerError::entry(ErrorKind::Format, &current, what);
        let mut segments = Vec::new();
        let mut push = |desc: &[u8]| -> std::result::Result<bool, ()> {
            if desc[0] == 0 && desc[12] == 0 {
                return Ok(false);
            }
            let off = numeric(&desc[..12]).ok_or(())?;
            let len = numeric(&desc[12..24]).ok_or(())?;
            let off = u64::try_from(off).map_err(|_| ())?;
            let len = u64::try_from(len).map_err(|_| ())?;
            segments.push((off, len));
            Ok(true)
        };
        for i in 0..4 {
            let at = 386 + i * 24;
            if !push(&block[at..at + 24]).map_err(|_| bad("bad sparse map"))? {
                break;
            }
        }
        let real_size = numeric(&block[483..495])
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| bad("bad sparse file size"))?;
        let mut extended = block[482] != 0;
        while extended {
            let ext = match self.block()? {
                Some(b) => b,
                None => return Err(truncated(Some(&self.current))),
            };
            for i in 0..21 {
                let at = i * 24;
                if !push(&ext[at..at + 24]).map_err(|_| bad("bad sparse map"))? {
                    break;
                }
            }
            extended = ext[504] != 0;
        }
        Ok(Sparse {
            segments,
            real_size,
        })
    }

    /// PAX sparse formats: 0.0 (offset/numbytes records), 0.1 (map record),
    /// 1.0 (map at the start of the data).
    fn pax_sparse(&mut self, pax: &Pax) -> Result<Sparse> {
        let current = self.current.clone();
        let bad = |what: &str| LayerError::entry(ErrorKind::Format, &current, what);
        let real_size = pax
            .sparse_real_size
            .ok_or_else(|| bad("sparse file without a real size"))?;
        let numbers = if pax.sparse_major == Some(1) {
            // Decimal numbers, one per line, in whole blocks before the data.
            let mut numbers: Vec<u64> = Vec::new();
            let mut text: Vec<u8> = Vec::new();
            let mut wanted: Option<u64> = None;
            loop {
                if self.remaining < BLOCK as u64 {
                    return Err(bad("sparse map runs past the entry's data"));
                }
                let block = match self.block()? {
                    Some(b) => b,
                    None => return Err(truncated(Some(&self.current))),
                };
                self.remaining -= BLOCK as u64;
                for &b in block.iter() {
                    if b == b'\n' {
                        let s = std::str::from_utf8(&text).map_err(|_| bad("bad sparse map"))?;
                        let v: u64 = s.parse().map_err(|_| bad("bad sparse map"))?;
                        text.clear();
                        match wanted {
                            None => {
                                if v > MAX_META / 16 {
                                    return Err(bad("sparse map too large"));
                                }
                                wanted = Some(v * 2);
                            }
                            Some(_) => numbers.push(v),
                        }
                        if wanted == Some(numbers.len() as u64) {
                            break;
                        }
                    } else {
                        text.push(b);
                    }
                }
                if wanted == Some(numbers.len() as u64) {
                    break;
                }
                if text.len() > 64 {
                    return Err(bad("bad sparse map"));
                }
            }
            numbers
        } else {
            pax.sparse_map.clone()
        };
        if numbers.len() % 2 != 0 {
            return Err(bad("sparse map has an odd number of values"));
        }
        Ok(Sparse {
            segments: numbers.chunks(2).map(|p| (p[0], p[1])).collect(),
            real_size,
        })
    }

    /// The next piece (at most `max` bytes) of the current entry's data;
    /// empty once it is all read.
    pub fn data(&mut self, max: u64) -> Result<&[u8]> {
        if self.remaining == 0 || max == 0 {
            return Ok(&[]);
        }
        if self.start == self.end && self.fill()? == 0 {
            return Err(truncated(Some(&self.current)));
        }
        let n = self.remaining.min(max).min((self.end - self.start) as u64) as usize;
        let at = self.start;
        self.start += n;
        self.remaining -= n as u64;
        Ok(&self.buf[at..at + n])
    }

    /// After the end-of-archive marker: reads the rest of the stream (more
    /// zero blocks, record padding) so all of it is hashed.
    pub fn drain(&mut self) -> Result<()> {
        self.start = 0;
        self.end = 0;
        while self.src.read(&mut self.buf)? > 0 {}
        Ok(())
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    if let Some(i) = v.iter().position(|&b| b == 0) {
        v.truncate(i);
    }
    v
}

fn check_sparse(sparse: &Sparse, stored: u64) -> std::result::Result<(), &'static str> {
    let mut pos = 0u64;
    let mut total = 0u64;
    for &(off, len) in &sparse.segments {
        if off < pos {
            return Err("sparse segments overlap or are out of order");
        }
        pos = off.checked_add(len).ok_or("sparse segment overflows")?;
        if pos > sparse.real_size {
            return Err("sparse segment beyond the file's size");
        }
        total = total.checked_add(len).ok_or("sparse segment overflows")?;
    }
    if total != stored {
        return Err("sparse segments do not add up to the stored data");
    }
    Ok(())
}

/// A NUL-terminated field.
fn cstr_field(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// A numeric header field: octal text, or GNU base-256 (high bit set,
/// two's complement).
fn numeric(b: &[u8]) -> Option<i64> {
    if let Some(&first) = b.first() {
        if first & 0x80 != 0 {
            let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &c) in b.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 != 0 {
                    return None;
                }
                x = (x << 8) | u64::from(c);
            }
            if x >> 63 != 0 {
                return None;
            }
            let x = x as i64;
            return Some(if inv == 0xff { !x } else { x });
        }
    }
    let text: &[u8] = {
        let mut s = b;
        while let [b' ' | 0, rest @ ..] = s {
            s = rest;
        }
        let end = s
            .iter()
            .position(|&c| c == b' ' || c == 0)
            .unwrap_or(s.len());
        &s[..end]
    };
    if text.is_empty() {
        return Some(0);
    }
    let mut v: i64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(v)
}

struct Header {
    block: [u8; BLOCK],
    name: Vec<u8>,
    linkname: Vec<u8>,
    typeflag: u8,
    mode: i64,
    uid: i64,
    gid: i64,
    size: u64,
    mtime: i64,
    dev_major: i64,
    dev_minor: i64,
}

impl Header {
    fn parse(b: &[u8; BLOCK]) -> Result<Header> {
        let name = cstr_field(&b[0..100]);
        let bad = |what: &str| LayerError::entry(ErrorKind::Format, name, what);
        let stored = numeric(&b[148..156]).ok_or_else(|| bad("bad header checksum field"))?;
        let mut unsigned: i64 = 0;
        let mut signed: i64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let c = if (148..156).contains(&i) { b' ' } else { c };
            unsigned += i64::from(c);
            signed += i64::from(c as i8);
        }
        if stored != unsigned && stored != signed {
            return Err(bad("tar header checksum mismatch"));
        }
        let field = |range: std::ops::Range<usize>, what: &str| -> Result<i64> {
            numeric(&b[range]).ok_or_else(|| bad(what))
        };
        let magic = &b[257..265];
        let posix = &magic[..6] == b"ustar\0";
        let gnu = magic == b"ustar  \0";
        let mut full = Vec::new();
        if posix {
            // star puts "tar\0" at the end and has a shorter prefix.
            let prefix = if &b[508..512] == b"tar\0" {
                cstr_field(&b[345..476])
            } else {
                cstr_field(&b[345..500])
            };
            if !prefix.is_empty() {
                full.extend_from_slice(prefix);
                full.push(b'/');
            }
        }
        full.extend_from_slice(name);
        let typeflag = b[156];
        let size = field(124..136, "bad size field")?;
        let size = u64::try_from(size).map_err(|_| bad("negative size"))?;
        let (dev_major, dev_minor) = if posix || gnu {
            (
                field(329..337, "bad device major")?,
                field(337..345, "bad device minor")?,
            )
        } else {
            (0, 0)
        };
        if typeflag == b'S' && !gnu {
            return Err(bad("sparse entry without a GNU header"));
        }
        Ok(Header {
            block: *b,
            name: full,
            linkname: cstr_field(&b[157..257]).to_vec(),
            typeflag,
            mode: field(100..108, "bad mode field")?,
            uid: field(108..116, "bad uid field")?,
            gid: field(116..124, "bad gid field")?,
            size,
            mtime: field(136..148, "bad mtime field")?,
            dev_major,
            dev_minor,
        })
    }
}

/// The records of a PAX extended header that matter for extraction.
#[derive(Default, Clone)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<Time>,
    atime: Option<Time>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    sparse_major: Option<u64>,
    sparse_name: Option<Vec<u8>>,
    sparse_real_size: Option<u64>,
    /// 0.0 offset/numbytes records or the 0.1 map, flattened.
    sparse_map: Vec<u64>,
    sparse_seen: bool,
}

impl Pax {
    fn is_sparse(&self) -> bool {
        self.sparse_seen
    }

    /// "<len> <key>=<value>\n" records; <len> counts the whole record, so
    /// values may hold any byte.
    fn parse(mut data: &[u8]) -> Result<Pax> {
        let bad = |what: &str| format_err(format!("malformed PAX header: {}", what));
        let mut pax = Pax::default();
        while !data.is_empty() {
            if data[0] == 0 {
                // NUL padding after the last record.
                break;
            }
            let sp = data
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(|| bad("record without a length"))?;
            let len: usize = std::str::from_utf8(&data[..sp])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad record length"))?;
            if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
                return Err(bad("bad record length"));
            }
            let record = &data[sp + 1..len - 1];
            data = &data[len..];
            let eq = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or_else(|| bad("record without '='"))?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            let number = |v: &[u8]| -> Result<u64> {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad(&format!("bad number for {}", String::from_utf8_lossy(key))))
            };
            // An empty value removes the record's effect.
            let opt = |v: &[u8]| if v.is_empty() { None } else { Some(v.to_vec()) };
            match key {
                b"path" => pax.path = opt(value),
                b"linkpath" => pax.linkpath = opt(value),
                b"size" => {
                    pax.size = if value.is_empty() {
                        None
                    } else {
                        Some(number(value)?)
                    }
                }
                b"uid" => {
                    pax.uid = if value.is_empty() {
                        None
                    } else {
                        Some(number(value)?)
                    }
                }
                b"gid" => {
                    pax.gid = if value.is_empty() {
                        None
                    } else {
                        Some(number(value)?)
                    }
                }
                b"mtime" => {
                    pax.mtime = parse_time(value)
                        .map(Some)
                        .ok_or_else(|| bad("bad mtime"))?
                }
                b"atime" => {
                    pax.atime = parse_time(value)
                        .map(Some)
                        .ok_or_else(|| bad("bad atime"))?
                }
                b"GNU.sparse.major" => {
                    pax.sparse_major = Some(number(value)?);
                    pax.sparse_seen = true;
                }
                b"GNU.sparse.minor" => {}
                b"GNU.sparse.name" => pax.sparse_name = opt(value),
                b"GNU.sparse.realsize" | b"GNU.sparse.size" => {
                    pax.sparse_real_size = Some(number(value)?);
                    pax.sparse_seen = true;
                }
                b"GNU.sparse.numblocks" => pax.sparse_seen = true,
                b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                    pax.sparse_map.push(number(value)?);
                    pax.sparse_seen = true;
                }
                b"GNU.sparse.map" => {
                    pax.sparse_seen = true;
                    if !value.is_empty() {
                        for part in value.split(|&b| b == b',') {
                            pax.sparse_map.push(number(part)?);
                        }
                    }
                }
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        if !name.is_empty() {
                            pax.xattrs.retain(|(k, _)| k != name);
                            pax.xattrs.push((name.to_vec(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(pax)
    }
}

/// "<seconds>[.<fraction>]", possibly negative.
fn parse_time(v: &[u8]) -> Option<Time> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = int.parse().ok()?;
    let mut nsec: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nsec += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if !neg {
        return Some(Time { sec, nsec });
    }
    if nsec == 0 {
        Some(Time { sec: -sec, nsec: 0 })
    } else {
        Some(Time {
            sec: -sec - 1,
            nsec: 1_000_000_000 - nsec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(numeric(b"0000644\0"), Some(0o644));
        assert_eq!(numeric(b"   644 \0"), Some(0o644));
        assert_eq!(numeric(b"\0\0\0\0"), Some(0));
        assert_eq!(numeric(b"0009"), None);
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 0x01;
        big[10] = 0x02;
        assert_eq!(numeric(&big), Some(0x201));
        assert_eq!(numeric(&[0xff; 12]), Some(-1));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(b"12"), Some(Time { sec: 12, nsec: 0 }));
        assert_eq!(
            parse_time(b"12.5"),
            Some(Time {
                sec: 12,
                nsec: 500_000_000
            })
        );
        assert_eq!(
            parse_time(b"-1.25"),
            Some(Time {
                sec: -2,
                nsec: 750_000_000
            })
        );
        assert_eq!(parse_time(b"x"), None);
    }

    #[test]
    fn pax_binary_values_with_newlines() {
        let value = b"\x01\n\x02";
        let mut rec = b" SCHILY.xattr.security.capability=".to_vec();
        rec.extend_from_slice(value);
        rec.push(b'\n');
        let len = rec.len() + 2;
        let mut data = format!("{}", len).into_bytes();
        data.extend_from_slice(&rec);
        data.extend_from_slice(b"16 path=a/b/c/d\n");
        let pax = Pax::parse(&data).unwrap();
        assert_eq!(
            pax.xattrs,
            vec![(b"security.capability".to_vec(), value.to_vec())]
        );
        assert_eq!(pax.path.as_deref(), Some(&b"a/b/c/d"[..]));
    }
}
