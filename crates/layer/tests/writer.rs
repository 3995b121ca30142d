//! `LayerWriter`: the streaming, threaded front end.

mod common;

use std::fs;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use layer::{Compression, Events, LayerError, LayerSummary, LayerWriter, Options, HIGH_WATER};

#[derive(Default)]
struct Recorder {
    state: Mutex<(u32, Option<Result<LayerSummary, LayerError>>)>,
    cond: Condvar,
}

impl Events for Recorder {
    fn drained(&self) {
        self.state.lock().unwrap().0 += 1;
        self.cond.notify_all();
    }

    fn done(&self, result: Result<LayerSummary, LayerError>) {
        let mut st = self.state.lock().unwrap();
        assert!(st.1.is_none(), "done called twice");
        st.1 = Some(result);
        self.cond.notify_all();
    }
}

impl Recorder {
    fn drains(&self) -> u32 {
        self.state.lock().unwrap().0
    }

    /// Waits for `drained` to have been called more than `seen` times, or
    /// for `done`.
    fn wait_drained(&self, seen: u32) {
        let mut st = self.state.lock().unwrap();
        while st.0 <= seen && st.1.is_none() {
            st = self.cond.wait(st).unwrap();
        }
    }

    fn wait_done(&self) -> Result<LayerSummary, LayerError> {
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(r) = st.1.clone() {
                return r;
            }
            let (next, timeout) = self.cond.wait_timeout(st, Duration::from_secs(60)).unwrap();
            assert!(!timeout.timed_out(), "done never came");
            st = next;
        }
    }
}

fn big_layer() -> Vec<u8> {
    let mut t = Tar::new();
    // Incompressible-ish so the gzip stream itself is large.
    let mut x: u32 = 1;
    let data: Vec<u8> = (0..48 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    t.file("big", &data, 0o644);
    for i in 0..200 {
        t.file(
            &format!("d{}/f{}", i % 10, i),
            format!("{}", i).as_bytes(),
            0o644,
        );
    }
    t.finish()
}

#[test]
fn streams_with_backpressure_and_matches_extract() {
    if skip_unless_root("streams_with_backpressure_and_matches_extract") {
        return;
    }
    let tar = big_layer();
    let gz = gzip(&tar);
    let s = Scratch::new("writer");
    let rec = Arc::new(Recorder::default());
    let opts = Options {
        expected_digest: Some(sha256(&gz).parse().unwrap()),
        expected_diff_id: Some(sha256(&tar).parse().unwrap()),
        ..options(Compression::Gzip)
    };
    let w = LayerWriter::spawn(s.layer.clone(), opts, rec.clone()).unwrap();
    let mut waits = 0;
    for chunk in gz.chunks(256 * 1024) {
        let seen = rec.drains();
        if !w.write(chunk.to_vec()).unwrap() {
            waits += 1;
            rec.wait_drained(seen);
        }
    }
    w.finish();
    let summary = rec.wait_done().unwrap();
    assert!(waits > 0, "the queue never reached the high-water mark");
    assert!(rec.drains() >= waits);
    assert_eq!(summary.digest.to_string(), sha256(&gz));
    assert_eq!(summary.diff_id.to_string(), sha256(&tar));
    assert_eq!(summary.entries, 201);
    assert_eq!(fs::metadata(s.path("big")).unwrap().len(), 48 << 20);
    assert_eq!(fs::read(s.path("d3/f13")).unwrap(), b"13");

    // After success, writes are refused and abort changes nothing.
    let err = w.write(vec![1]).unwrap_err();
    assert_eq!(err.code(), "ERR_STREAM_WRITE_AFTER_END");
    w.abort();
    drop(w);
    assert!(s.path("big").exists());
}

#[test]
fn high_water_mark_bounds_the_queue() {
    if skip_unless_root("high_water_mark_bounds_the_queue") {
        return;
    }
    let s = Scratch::new("hwm");
    let rec = Arc::new(Recorder::default());
    let w = LayerWriter::spawn(s.layer.clone(), options(Compression::None), rec.clone()).unwrap();
    // More than the mark queued (here in one chunk): accepted, but the
    // caller is told to wait, and told again when the thread caught up.
    let mut t = Tar::new();
    t.file("f", &vec![7u8; HIGH_WATER + 4096], 0o644);
    let tar = t.finish();
    assert!(!w.write(tar).unwrap());
    rec.wait_drained(0);
    assert_eq!(rec.drains(), 1);
    assert!(w.write(Vec::new()).unwrap());
    w.finish();
    rec.wait_done().unwrap();
    assert_eq!(
        fs::metadata(s.path("f")).unwrap().len(),
        (HIGH_WATER + 4096) as u64
    );
}

#[test]
fn failure_rejects_later_writes_and_empties_the_layer() {
    if skip_unless_root("failure_rejects_later_writes_and_empties_the_layer") {
        return;
    }
    let s = Scratch::new("writer-fail");
    let rec = Arc::new(Recorder::default());
    let w = LayerWriter::spawn(s.layer.clone(), options(Compression::None), rec.clone()).unwrap();
    let mut t = Tar::new();
    t.file("ok", b"ok", 0o644);
    t.file("../escape", b"no", 0o644);
    w.write(t.finish()).unwrap();
    let err = rec.wait_done().unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_HOSTILE_ENTRY");
    let again = w.write(vec![0; 512]).unwrap_err();
    assert_eq!(again, err);
    w.finish();
    assert!(s.is_layer_empty());
    assert!(!s.dir.join("a/b/escape").exists());
}

#[test]
fn abort_stops_and_empties_the_layer() {
    if skip_unless_root("abort_stops_and_empties_the_layer") {
        return;
    }
    let tar = big_layer();
    let s = Scratch::new("writer-abort");
    let rec = Arc::new(Recorder::default());
    let w = LayerWriter::spawn(s.layer.clone(), options(Compression::None), rec.clone()).unwrap();
    w.write(tar[..20 << 20].to_vec()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    w.abort();
    let err = rec.wait_done().unwrap_err();
    assert_eq!(err.code(), "ERR_LAYER_ABORTED");
    assert!(s.is_layer_empty());
    assert_eq!(w.write(vec![1]).unwrap_err().code(), "ERR_LAYER_ABORTED");
}

#[test]
fn dropping_an_unfinished_writer_aborts() {
    if skip_unless_root("dropping_an_unfinished_writer_aborts") {
        return;
    }
    let s = Scratch::new("writer-drop");
    let rec = Arc::new(Recorder::default());
    let w = LayerWriter::spawn(s.layer.clone(), options(Compression::None), rec.clone()).unwrap();
    let mut t = Tar::new();
    t.file("partial", b"p", 0o644);
    w.write(t.buf.clone()).unwrap();
    drop(w);
    assert_eq!(rec.wait_done().unwrap_err().code(), "ERR_LAYER_ABORTED");
    assert!(s.is_layer_empty());
}

#[test]
fn finish_before_the_end_is_truncation() {
    if skip_unless_root("finish_before_the_end_is_truncation") {
        return;
    }
    let s = Scratch::new("writer-trunc");
    let rec = Arc::new(Recorder::default());
    let w = LayerWriter::spawn(s.layer.clone(), options(Compression::Gzip), rec.clone()).unwrap();
    let mut t = Tar::new();
    t.file("a", &vec![1u8; 100_000], 0o644);
    let gz = gzip(&t.finish());
    w.write(gz[..gz.len() - 10].to_vec()).unwrap();
    w.finish();
    assert_eq!(rec.wait_done().unwrap_err().code(), "ERR_LAYER_TRUNCATED");
    assert!(s.is_layer_empty());
}

#[test]
fn a_bad_directory_fails_through_done() {
    let s = Scratch::new("writer-baddir");
    let rec = Arc::new(Recorder::default());
    let missing = s.dir.join("missing");
    let w = LayerWriter::spawn(missing, options(Compression::Gzip), rec.clone()).unwrap();
    let err = rec.wait_done().unwrap_err();
    assert_eq!(err.code(), "ENOENT");
    assert_eq!(w.write(vec![1]).unwrap_err().code(), "ENOENT");
}
