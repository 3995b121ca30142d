//! The one-pass pipeline: compressed bytes (hashed: the digest) →
//! decompressor → uncompressed bytes (hashed: the diffID, counted against
//! the quota) → tar reader → extractor. Then the rest of the stream is read
//! to its end, both hashes are checked, and the layer is synced.
//!
//! Hashing and decompressing run on one thread, tar parsing and file
//! creation on another, joined by a small bounded channel: a layer takes
//! about as long as the slower of the two rather than their sum.

use std::io::{self, BufRead, Read};
use std::mem;
use std::os::unix::io::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use flate2::bufread::MultiGzDecoder;

use crate::digest::{Digest, Hasher};
use crate::error::{ErrorKind, LayerError, Result};
use crate::extract::Extractor;
use crate::remove;
use crate::root::Root;
use crate::sys;
use crate::tar::{Source, TarReader};
use sys_error::SysError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    None,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub compression: Compression,
    /// Of the compressed bytes as received; also picks the digest's algorithm.
    pub expected_digest: Option<Digest>,
    /// Of the whole uncompressed tar stream.
    pub expected_diff_id: Option<Digest>,
    /// Refuse the layer once the uncompressed stream exceeds this.
    pub max_uncompressed_bytes: Option<u64>,
    /// syncfs(2) the layer's filesystem before reporting success, so the
    /// caller's rename into place is durable.
    pub sync: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            compression: Compression::Gzip,
            expected_digest: None,
            expected_diff_id: None,
            max_uncompressed_bytes: None,
            sync: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    pub digest: Digest,
    pub diff_id: Digest,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub entries: u64,
}

/// Compressed input that hashes every byte it hands out.
pub(crate) trait Input: BufRead {
    /// The digest and size of everything read so far.
    fn digest(&mut self) -> (Digest, u64);
    /// Whether the end of the input has been seen: a decompressor failing
    /// after that failed because the stream was cut short.
    fn reached_end(&self) -> bool;
}

/// `Input` over any reader: hashes each buffer as it is filled (all of it
/// is consumed eventually, since the stream is always read to its end).
pub(crate) struct HashingReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    hasher: Hasher,
    count: u64,
    eof: bool,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, hasher: Hasher) -> HashingReader<R> {
        HashingReader {
            inner,
            buf: vec![0; 128 * 1024],
            pos: 0,
            len: 0,
            hasher,
            count: 0,
            eof: false,
        }
    }
}

/// `Read::read` for a reader whose buffer does the work: a copy out of `fill_buf`.
pub(crate) fn read_from_buffer(reader: &mut impl BufRead, out: &mut [u8]) -> io::Result<usize> {
    let avail = reader.fill_buf()?;
    let n = avail.len().min(out.len());
    out[..n].copy_from_slice(&avail[..n]);
    reader.consume(n);
    Ok(n)
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_from_buffer(self, out)
    }
}

impl<R: Read> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.len {
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.hasher.update(&self.buf[..n]);
            self.count += n as u64;
            self.eof |= n == 0;
            self.pos = 0;
            self.len = n;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

impl<R: Read> Input for HashingReader<R> {
    fn digest(&mut self) -> (Digest, u64) {
        let algorithm = match &self.hasher {
            Hasher::Sha256(_) => crate::digest::Algorithm::Sha256,
            Hasher::Sha512(_) => crate::digest::Algorithm::Sha512,
        };
        let hasher = std::mem::replace(&mut self.hasher, Hasher::new(algorithm));
        (hasher.finish(), self.count)
    }

    fn reached_end(&self) -> bool {
        self.eof
    }
}

enum Decoder<I: BufRead> {
    Gzip(Box<MultiGzDecoder<I>>),
    Zstd(zstd::stream::read::Decoder<'static, I>),
    None(I),
}

impl<I: BufRead> Decoder<I> {
    fn input(&mut self) -> &mut I {
        match self {
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
            Decoder::None(r) => r,
        }
    }

    fn input_ref(&self) -> &I {
        match self {
            Decoder::Gzip(d) => d.get_ref(),
            Decoder::Zstd(d) => d.get_ref(),
            Decoder::None(r) => r,
        }
    }
}

/// An io::Error carrying a LayerError through a decompressor unchanged.
pub(crate) fn wrap(err: LayerError) -> io::Error {
    io::Error::new(io::ErrorKind::Other, err)
}

/// The decompressed stream, counted against the quota.
struct Uncompressed<'a, I: Input> {
    dec: Decoder<I>,
    count: u64,
    limit: Option<u64>,
    stop: &'a (dyn Fn() -> bool + Sync),
    what: &'static str,
}

impl<I: Input> Uncompressed<'_, I> {
    fn map_err(&self, err: io::Error) -> LayerError {
        if (self.stop)() {
            return LayerError::aborted();
        }
        if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<LayerError>()) {
            return inner.clone();
        }
        // A decompressor that runs out of input mid-stream says either
        // "unexpected EOF" or "corrupt"; with the input at its end, it is
        // a truncated layer either way.
        if err.kind() == io::ErrorKind::UnexpectedEof || self.dec.input_ref().reached_end() {
            return LayerError::new(
                ErrorKind::Truncated,
                format!("the {} stream ends early (truncated layer)", self.what),
            );
        }
        LayerError::new(
            ErrorKind::Format,
            format!("not a valid {} stream: {}", self.what, err),
        )
    }
}

impl<I: Input> Source for Uncompressed<'_, I> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if (self.stop)() {
            return Err(LayerError::aborted());
        }
        let r = loop {
            let r = match &mut self.dec {
                Decoder::Gzip(d) => d.read(buf),
                Decoder::Zstd(d) => d.read(buf),
                Decoder::None(r) => r.read(buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = r.map_err(|e| self.map_err(e))?;
        self.count += n as u64;
        if let Some(limit) = self.limit {
            if self.count > limit {
                return Err(LayerError::new(
                    ErrorKind::TooLarge,
                    format!(
                        "the layer's uncompressed size exceeds the limit of {} bytes",
                        limit
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Decompressed data travels between the two stages in blocks this big...
const BLOCK_SIZE: usize = 256 * 1024;
/// ...at most this many at a time (2 MiB in flight).
const DEPTH: usize = 8;

/// What the decode stage sends the extract stage.
enum Block {
    /// A buffer of BLOCK_SIZE bytes, of which the first `.1` are data
    /// (buffers keep their full length so reusing one never re-zeroes it).
    Data(Vec<u8>, usize),
    /// Decoding failed; the extract stage stops with this error.
    Failed(LayerError),
}

/// What the decode stage found, once its input ended cleanly.
struct Decoded {
    digest: Digest,
    compressed_size: u64,
    uncompressed_size: u64,
}

/// The extract stage's `Source`: blocks from the decode stage, hashed here
/// for the diffID (which balances the work of the two threads). A closed
/// channel is the end of the stream (whether the decode stage ended well
/// is learned from joining it). Used blocks go back for reuse.
struct ChannelSource {
    rx: Receiver<Block>,
    /// None when the diffID is the same hash of the same bytes as the
    /// digest (no compression), so the stream is hashed once.
    hasher: Option<Hasher>,
    free: SyncSender<Vec<u8>>,
    block: Vec<u8>,
    len: usize,
    pos: usize,
    failed: Option<LayerError>,
    done: bool,
}

impl Source for ChannelSource {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            if self.pos < self.len {
                let n = buf.len().min(self.len - self.pos);
                buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(err) = &self.failed {
                return Err(err.clone());
            }
            if self.done {
                return Ok(0);
            }
            let used = mem::take(&mut self.block);
            if used.capacity() > 0 {
                let _ = self.free.try_send(used);
            }
            self.pos = 0;
            self.len = 0;
            match self.rx.recv() {
                Ok(Block::Data(block, len)) => {
                    if let Some(h) = &mut self.hasher {
                        h.update(&block[..len]);
                    }
                    self.block = block;
                    self.len = len;
                }
                Ok(Block::Failed(err)) => self.failed = Some(err),
                Err(_) => self.done = true,
            }
        }
    }
}

/// The decode stage: hashes the compressed input (inside `input`),
/// decompresses it, hashes and counts the result, and sends it on in
/// blocks, until the compressed stream ends. Then checks nothing follows.
fn decode<I: Input>(
    input: I,
    options: &Options,
    stop: &(dyn Fn() -> bool + Sync),
    tx: SyncSender<Block>,
    free: Receiver<Vec<u8>>,
) -> Result<Decoded> {
    let result = decode_inner(input, options, stop, &tx, free);
    if let Err(err) = &result {
        // Wakes the extract stage if it waits for data (ignored if it is
        // gone already).
        let _ = tx.send(Block::Failed(err.clone()));
    }
    result
}

fn decode_inner<I: Input>(
    input: I,
    options: &Options,
    stop: &(dyn Fn() -> bool + Sync),
    tx: &SyncSender<Block>,
    free: Receiver<Vec<u8>>,
) -> Result<Decoded> {
    let (dec, what) = match options.compression {
        Compression::Gzip => (Decoder::Gzip(Box::new(MultiGzDecoder::new(input))), "gzip"),
        Compression::Zstd => {
            let d = zstd::stream::read::Decoder::with_buffer(input).map_err(|e| {
                LayerError::new(ErrorKind::Format, format!("cannot start zstd: {}", e))
            })?;
            (Decoder::Zstd(d), "zstd")
        }
        Compression::None => (Decoder::None(input), "tar"),
    };
    let mut src = Uncompressed {
        dec,
        count: 0,
        limit: options.max_uncompressed_bytes,
        stop,
        what,
    };
    loop {
        let mut block = free.try_recv().unwrap_or_else(|_| vec![0; BLOCK_SIZE]);
        // One read per block: whatever the decompressor makes of the input
        // at hand goes on at once, rather than waiting for more input to
        // fill the block (the rest of the layer may be a while coming).
        let filled = src.read(&mut block)?;
        if filled == 0 {
            break;
        }
        if tx.send(Block::Data(block, filled)).is_err() {
            // The extract stage stopped (and has its own error).
            return Err(LayerError::aborted());
        }
    }

    // The decompressor reported the end of its stream; anything left in
    // the input is not part of the layer.
    let Uncompressed {
        mut dec,
        count: uncompressed_size,
        ..
    } = src;
    let input = dec.input();
    let mut trailing = 0u64;
    loop {
        let n = input
            .fill_buf()
            .map_err(
                |e| match e.get_ref().and_then(|e| e.downcast_ref::<LayerError>()) {
                    Some(inner) => inner.clone(),
                    None => LayerError::sys(SysError::new(
                        e.raw_os_error().unwrap_or(libc::EIO),
                        "read",
                    )),
                },
            )?
            .len();
        if n == 0 {
            break;
        }
        trailing += n as u64;
        input.consume(n);
    }
    if trailing > 0 {
        return Err(LayerError::new(
            ErrorKind::Format,
            format!(
                "{} bytes of trailing data after the end of the {} stream",
                trailing, what
            ),
        ));
    }
    let (digest, compressed_size) = input.digest();
    Ok(Decoded {
        digest,
        compressed_size,
        uncompressed_size,
    })
}

/// Extracts the compressed stream `input` into `root` in two pipelined
/// stages: a thread that hashes and decompresses (`decode`), and the
/// calling thread, which parses the tar and writes the files. `stop` is
/// polled by both (abort); `halt` is called when extraction failed, to
/// unblock a decode stage waiting for input. On error the caller empties
/// the root.
pub(crate) fn run<I: Input + Send>(
    root: Root,
    options: &Options,
    input: I,
    stop: &(dyn Fn() -> bool + Sync),
    halt: &dyn Fn(),
) -> Result<LayerSummary> {
    let digest_algo = options
        .expected_digest
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or_default();
    let diff_algo = options
        .expected_diff_id
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or_default();
    let same_bytes = options.compression == Compression::None && digest_algo == diff_algo;
    let outcome = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel(DEPTH);
        let (free_tx, free_rx) = sync_channel(DEPTH + 2);
        let decoder = std::thread::Builder::new()
            .name("skiff:layer-dec".to_string())
            .spawn_scoped(scope, move || {
                crate::sys::deprioritize_current_thread();
                decode(input, options, stop, tx, free_rx)
            })
            .map_err(|e| {
                LayerError::sys(SysError::new(
                    e.raw_os_error().unwrap_or(libc::EAGAIN),
                    "pthread_create",
                ))
            })?;
        let mut extractor = Extractor::new(root);
        let mut tar = TarReader::new(ChannelSource {
            rx,
            hasher: if same_bytes {
                None
            } else {
                Some(Hasher::new(diff_algo))
            },
            free: free_tx,
            block: Vec::new(),
            len: 0,
            pos: 0,
            failed: None,
            done: false,
        });
        let extracted = extractor.run(&mut tar, stop);
        let hasher = tar.into_source().hasher;
        // (The channel is closed now, which unblocks a decode stage
        // waiting to send.)
        if extracted.is_err() {
            halt();
        }
        let decoded = decoder.join().unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(LayerError::new(
                ErrorKind::Format,
                format!("the decompression thread panicked: {}", what),
            ))
        });
        // The extract stage's error comes first: the decode stage's is
        // then only a consequence.
        let entries = extracted?;
        let decoded = decoded?;
        let diff_id = match hasher {
            Some(h) => h.finish(),
            None => decoded.digest.clone(),
        };
        check(
            ErrorKind::DigestMismatch,
            "digest",
            &options.expected_digest,
            &decoded.digest,
        )?;
        check(
            ErrorKind::DiffIdMismatch,
            "diffID",
            &options.expected_diff_id,
            &diff_id,
        )?;
        if options.sync {
            let root = extractor.root();
            sys::syncfs(root.raw()).map_err(|e| LayerError::sys(e.with_path(root.display(b""))))?;
        }
        Ok(LayerSummary {
            digest: decoded.digest,
            diff_id,
            compressed_size: decoded.compressed_size,
            uncompressed_size: decoded.uncompressed_size,
            entries,
        })
    });
    sys::release_free_memory();
    outcome
}

fn check(kind: ErrorKind, what: &str, expected: &Option<Digest>, actual: &Digest) -> Result<()> {
    match expected {
        Some(expected) if expected != actual => {
            let mut err = LayerError::new(
                kind,
                format!(
                    "layer {} mismatch: expected {}, got {}",
                    what, expected, actual
                ),
            );
            err.mismatch = Some((expected.to_string(), actual.to_string()));
            Err(err)
        }
        _ => Ok(()),
    }
}

/// Empties the layer directory after a failure; a failure to do so is
/// added to the original error rather than replacing it.
pub(crate) fn discard(fd: OwnedFd, dir: &Path, err: &mut LayerError) {
    if let Err(e) = remove::clear_dir(fd, dir) {
        err.message
            .push_str(&format!(" (and removing the partial layer failed: {})", e));
    }
}

/// Extracts a whole layer read from `input` into `dir` (existing, empty),
/// on the calling thread plus a decompression thread. On failure `dir` is
/// left empty (after `input` was read up to the point the failure is
/// noticed).
pub fn extract(dir: &Path, options: &Options, input: impl Read + Send) -> Result<LayerSummary> {
    let root = Root::open(dir)?;
    let keep = root.dup_fd()?;
    let digest_algo = options
        .expected_digest
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or_default();
    let input = HashingReader::new(input, Hasher::new(digest_algo));
    let result = run(root, options, input, &|| false, &|| {});
    match result {
        Ok(summary) => Ok(summary),
        Err(mut err) => {
            discard(keep, dir, &mut err);
            Err(err)
        }
    }
}

/// A stop flag as the pipeline polls it.
pub(crate) fn flag(flag: &AtomicBool) -> impl Fn() -> bool + '_ {
    move || flag.load(Ordering::Relaxed)
}
