//! `LayerWriter`: a layer extracted on threads of its own while the caller
//! pushes the compressed bytes in as they arrive (HTTP body chunks). The
//! bytes queued between the two are bounded by a high-water mark: `write`
//! says when the caller should wait, and `Events::drained` says when it can
//! go on, so memory does not grow with the layer.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use sys_error::SysError;

use crate::digest::{Digest, Hasher};
use crate::error::{ErrorKind, LayerError, Result};
use crate::root::Root;
use crate::stream::{self, discard, Input, LayerSummary, Options};

/// Above this many queued bytes `write` asks the caller to wait...
pub const HIGH_WATER: usize = 8 << 20;
/// ...until the extraction thread has brought the queue down to this.
pub const LOW_WATER: usize = 4 << 20;

/// How the extraction reports back: from its own threads, never the
/// caller's, and without any of the writer's locks held.
pub trait Events: Send + Sync + 'static {
    /// The queue fell to the low-water mark after a `write` returned false.
    fn drained(&self);
    /// Extraction ended: success, failure (the directory is empty again) or
    /// abort. Called exactly once, last.
    fn done(&self, result: Result<LayerSummary>);
}

enum Outcome {
    Running,
    Succeeded,
    Failed(LayerError),
}

struct State {
    chunks: VecDeque<Vec<u8>>,
    queued: usize,
    finished: bool,
    aborted: bool,
    /// A `write` returned false and awaits `drained`.
    waiting: bool,
    /// Extraction failed: the decode stage stops reading.
    halted: bool,
    outcome: Outcome,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    /// Mirrors `state.aborted` for cheap polling during extraction.
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The producer side. Dropping it before `finish` aborts the extraction.
pub struct LayerWriter {
    shared: Arc<Shared>,
}

impl LayerWriter {
    /// Starts extracting into `dir` (an existing, empty directory) on a new
    /// thread. Problems with `dir` surface through `Events::done`.
    pub fn spawn(
        dir: PathBuf,
        options: Options,
        events: Arc<dyn Events>,
    ) -> std::result::Result<LayerWriter, SysError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                queued: 0,
                finished: false,
                aborted: false,
                waiting: false,
                halted: false,
                outcome: Outcome::Running,
            }),
            cond: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("skiff:layer".to_string())
            .spawn(move || extraction_thread(thread_shared, dir, options, events))
            .map_err(|e| {
                SysError::new(e.raw_os_error().unwrap_or(libc::EAGAIN), "pthread_create")
            })?;
        Ok(LayerWriter { shared })
    }

    /// Queues a chunk. Ok(true): send more right away; Ok(false): wait for
    /// `Events::drained` (or `done`). Err: the extraction already failed
    /// (that error), or input was already ended.
    pub fn write(&self, chunk: Vec<u8>) -> Result<bool> {
        let mut st = self.shared.lock();
        if let Outcome::Failed(err) = &st.outcome {
            return Err(err.clone());
        }
        if st.finished || st.aborted || matches!(st.outcome, Outcome::Succeeded) {
            return Err(LayerError::new(
                ErrorKind::WriteAfterEnd,
                "write after the layer writer was finished or aborted",
            ));
        }
        st.queued += chunk.len();
        st.chunks.push_back(chunk);
        self.shared.cond.notify_one();
        if st.queued > HIGH_WATER {
            st.waiting = true;
            Ok(false)
        } else {
            Ok(true)
        }
    }

    /// Ends the input; `Events::done` follows once everything is extracted
    /// and verified.
    pub fn finish(&self) {
        let mut st = self.shared.lock();
        st.finished = true;
        self.shared.cond.notify_one();
    }

    /// Stops the extraction and empties the directory; `Events::done`
    /// follows with `ERR_LAYER_ABORTED`. No effect once extraction ended
    /// (a finished layer stays).
    pub fn abort(&self) {
        let mut st = self.shared.lock();
        if !matches!(st.outcome, Outcome::Running) {
            return;
        }
        st.aborted = true;
        st.chunks.clear();
        st.queued = 0;
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.cond.notify_one();
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        let finished = self.shared.lock().finished;
        if !finished {
            self.abort();
        }
    }
}

fn aborted_io() -> io::Error {
    stream::wrap(LayerError::aborted())
}

/// The decode stage's view of the queue: compressed input, hashed as
/// each chunk is taken.
struct QueueReader {
    shared: Arc<Shared>,
    events: Arc<dyn Events>,
    chunk: Vec<u8>,
    pos: usize,
    hasher: Option<Hasher>,
    algorithm: crate::digest::Algorithm,
    count: u64,
    eof: bool,
}

impl BufRead for QueueReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.chunk.len() {
            let mut drained = false;
            let next = {
                let mut st = self.shared.lock();
                loop {
                    if st.aborted || st.halted {
                        return Err(aborted_io());
                    }
                    if let Some(chunk) = st.chunks.pop_front() {
                        st.queued -= chunk.len();
                        if st.waiting && st.queued <= LOW_WATER {
                            st.waiting = false;
                            drained = true;
                        }
                        break Some(chunk);
                    }
                    if st.finished {
                        break None;
                    }
                    st = self.shared.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            if drained {
                self.events.drained();
            }
            match next {
                Some(chunk) => {
                    if let Some(h) = &mut self.hasher {
                        h.update(&chunk);
                    }
                    self.count += chunk.len() as u64;
                    self.chunk = chunk;
                    self.pos = 0;
                }
                None => {
                    self.chunk = Vec::new();
                    self.pos = 0;
                    self.eof = true;
                    return Ok(&[]);
                }
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

impl Read for QueueReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        stream::read_from_buffer(self, out)
    }
}

impl Input for QueueReader {
    fn digest(&mut self) -> (Digest, u64) {
        let hasher = self
            .hasher
            .take()
            .unwrap_or_else(|| Hasher::new(self.algorithm));
        (hasher.finish(), self.count)
    }

    fn reached_end(&self) -> bool {
        self.eof
    }
}

fn extraction_thread(shared: Arc<Shared>, dir: PathBuf, options: Options, events: Arc<dyn Events>) {
    crate::sys::deprioritize_current_thread();
    let algorithm = options
        .expected_digest
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or_default();
    let mut keep = None;
    let mut result = match Root::open(&dir).map_err(LayerError::sys).and_then(|root| {
        keep = Some(root.dup_fd()?);
        Ok(root)
    }) {
        Err(err) => Err(err),
        Ok(root) => {
            let reader = QueueReader {
                shared: shared.clone(),
                events: events.clone(),
                chunk: Vec::new(),
                pos: 0,
                hasher: Some(Hasher::new(algorithm)),
                algorithm,
                count: 0,
                eof: false,
            };
            let stop = stream::flag(&shared.stop);
            let halt = || {
                shared.lock().halted = true;
                shared.cond.notify_all();
            };
            stream::run(root, &options, reader, &stop, &halt)
        }
    };
    {
        // Decided under the lock, so an abort() either happened before
        // (and wins over a success) or finds the outcome settled.
        let mut st = shared.lock();
        if result.is_ok() && st.aborted {
            result = Err(LayerError::aborted());
        }
        if let Err(err) = &result {
            if st.aborted && err.kind != ErrorKind::Aborted {
                // Whatever broke after abort() was a consequence of it.
                result = Err(LayerError::aborted());
            }
        }
        st.outcome = match &result {
            Ok(_) => Outcome::Succeeded,
            Err(err) => Outcome::Failed(err.clone()),
        };
        st.chunks.clear();
        st.queued = 0;
    }
    if let (Err(err), Some(fd)) = (&mut result, keep) {
        discard(fd, &dir, err);
    }
    events.done(result);
}
