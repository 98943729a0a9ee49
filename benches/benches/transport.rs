//! Latency of Berth's iceoryx2 transport (through the transport traits) against raw iceoryx2
//! with the same service settings, for payloads from 64 B to 8 MiB.
//!
//! - `*_one_way/{size}`: a frame from a second thread to the bench thread; latency = time of
//!   receipt − timestamp written just before the send (one `CLOCK_MONOTONIC`).
//! - `*_round_trip/{size}`: a frame to an echo thread and back.
//! - `*_round_trip_woken/{size}`: the same with no spinning: each side sleeps on the event
//!   service until notified (what a wake-up costs).
//!
//! The data-path cases spin on receive, so what is measured is the transport's per-frame and
//! per-byte cost, not a wake-up. Every Criterion sample is one frame, so the saved samples are
//! per-frame latencies (p50, p99). Frames are written in place: the writer fills the header and
//! touches the first and last payload byte, the reader reads them; no payload is copied,
//! because a zero-copy transport leaves that to the application (a producer writes its data
//! straight into the loaned sample either way).

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_benches::leaks;
use berth_benches::raw::{RawReceiver, RawSender, RawSession};
use berth_benches::timing::one_frame_per_sample;
use berth_iceoryx2::Iceoryx2Transport;
use berth_transport::{
    ChannelName, ChannelRole, FrameKind, FrameReceiver, FrameSender, SessionTransport, Transport,
    TransportConfig, monotonic_ns,
};
use criterion::{BenchmarkId, Criterion, criterion_group};

const SIZES: [(usize, &str); 5] = [
    (64, "64B"),
    (4 << 10, "4KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (8 << 20, "8MiB"),
];
const WOKEN_SIZES: [&str; 3] = ["64B", "4KiB", "8MiB"];
const MAX_FRAME: usize = 8 << 20;
/// Long enough that a spinning receive never falls back to waiting during a case.
const SPIN: Duration = Duration::from_secs(10);
const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames (Criterion samples) per case.
const FRAMES: usize = 1000;
/// How long a helper's receive runs before it looks at its control flags again.
const HELPER_SLICE: Duration = Duration::from_millis(1);

fn config(spin: bool) -> TransportConfig {
    TransportConfig {
        max_frame_bytes: MAX_FRAME,
        spin: if spin { SPIN } else { Duration::ZERO },
        ..TransportConfig::default()
    }
}

/// Writes a frame of `len` bytes stamped with `timestamp_ns` (`None`: now, just before the send).
trait Tx: Send {
    fn send(&mut self, len: usize, timestamp_ns: Option<u64>);
}

/// Reads a frame; returns its timestamp and length.
trait Rx: Send {
    fn recv(&mut self, timeout: Duration) -> Option<(u64, usize)>;
}

fn touch(payload: &mut [u8]) {
    if let Some(first) = payload.first_mut() {
        *first = 1;
    }
    if let Some(last) = payload.last_mut() {
        *last = 1;
    }
}

fn look(payload: &[u8]) {
    black_box(payload.first());
    black_box(payload.last());
}

struct BerthTx(Box<dyn FrameSender>);
struct BerthRx(Box<dyn FrameReceiver>);

impl Tx for BerthTx {
    fn send(&mut self, len: usize, timestamp_ns: Option<u64>) {
        self.0
            .send_with(len, &mut |header, payload| {
                header.kind = FrameKind::Bytes as u32;
                touch(payload);
                header.timestamp_ns = timestamp_ns.unwrap_or_else(monotonic_ns);
            })
            .expect("berth send");
    }
}

impl Rx for BerthRx {
    fn recv(&mut self, timeout: Duration) -> Option<(u64, usize)> {
        let mut got = None;
        self.0
            .receive_with(timeout, &mut |header, payload| {
                look(payload);
                got = Some((header.timestamp_ns, payload.len()));
            })
            .expect("berth receive");
        got
    }
}

struct RawTx(RawSender);
struct RawRx(RawReceiver);

impl Tx for RawTx {
    fn send(&mut self, len: usize, timestamp_ns: Option<u64>) {
        self.0
            .send_with(len, 0, timestamp_ns, touch)
            .expect("raw send");
    }
}

impl Rx for RawRx {
    fn recv(&mut self, timeout: Duration) -> Option<(u64, usize)> {
        self.0
            .receive_with(timeout, |header, payload| {
                look(payload);
                (header.timestamp_ns, payload.len())
            })
            .expect("raw receive")
    }
}

/// Both ends of two channels: `ping` (bench thread → helper) and `pong` (helper → bench thread).
struct Pair {
    main_tx: Box<dyn Tx>,
    main_rx: Box<dyn Rx>,
    peer_tx: Option<Box<dyn Tx>>,
    peer_rx: Option<Box<dyn Rx>>,
    /// What owns the services; dropped after the ports.
    owner: Option<Box<dyn Send>>,
    session: berth_transport::SessionId,
}

impl Pair {
    fn berth(spin: bool) -> Pair {
        let session = leaks::raw_session();
        let transport = Iceoryx2Transport::new();
        let channels = transport
            .open_session(&session, &config(spin))
            .expect("open a transport session");
        let ping = ChannelName::new(&session, "ping", ChannelRole::Input).unwrap();
        let pong = ChannelName::new(&session, "pong", ChannelRole::Output).unwrap();
        channels.create_channel(&ping).unwrap();
        channels.create_channel(&pong).unwrap();
        let main_rx = Box::new(BerthRx(channels.receiver(&pong).unwrap()));
        let peer_rx = Box::new(BerthRx(channels.receiver(&ping).unwrap()));
        let main_tx = Box::new(BerthTx(channels.sender(&ping).unwrap()));
        let peer_tx = Box::new(BerthTx(channels.sender(&pong).unwrap()));
        let owner: Box<dyn SessionTransport> = channels;
        Pair {
            main_tx,
            main_rx,
            peer_tx: Some(peer_tx),
            peer_rx: Some(peer_rx),
            owner: Some(Box::new(owner)),
            session,
        }
    }

    fn raw(spin: bool) -> Pair {
        let session = leaks::raw_session();
        let raw = RawSession::new(&session, &config(spin)).expect("a raw iceoryx2 node");
        let ping = raw.channel("ping").unwrap();
        let pong = raw.channel("pong").unwrap();
        let main_rx = Box::new(RawRx(pong.receiver(spin).unwrap()));
        let peer_rx = Box::new(RawRx(ping.receiver(spin).unwrap()));
        let main_tx = Box::new(RawTx(ping.sender().unwrap()));
        let peer_tx = Box::new(RawTx(pong.sender().unwrap()));
        Pair {
            main_tx,
            main_rx,
            peer_tx: Some(peer_tx),
            peer_rx: Some(peer_rx),
            owner: Some(Box::new(raw)),
            session,
        }
    }

    fn close(mut self) {
        self.peer_tx = None;
        self.peer_rx = None;
        let session = self.session.clone();
        drop(self.main_tx);
        drop(self.main_rx);
        self.owner = None;
        let left = leaks::release_raw(&session);
        assert!(left.is_empty(), "transport bench left {left:?}");
    }
}

/// Flags between the bench thread and a helper thread.
#[derive(Default)]
struct Control {
    stop: AtomicBool,
    /// One-way helper: bumped by the bench thread for every frame it wants.
    go: AtomicU64,
    /// One-way helper: the size of the frames to send.
    len: AtomicUsize,
}

/// A helper that saw no frame for this long naps between polls (1 ms at a time), so it does
/// not spin while Criterion analyses between cases. Within a case frames follow each other
/// closely and it stays hot; only a case's first warm-up frame can meet a napping helper.
const IDLE: Duration = Duration::from_millis(50);
const NAP: Duration = Duration::from_millis(1);

fn echo_thread(control: Arc<Control>, mut rx: Box<dyn Rx>, mut tx: Box<dyn Tx>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = Instant::now();
        while !control.stop.load(Ordering::Relaxed) {
            match rx.recv(HELPER_SLICE) {
                Some((timestamp, len)) => {
                    tx.send(len, Some(timestamp));
                    last = Instant::now();
                }
                None if last.elapsed() > IDLE => std::thread::sleep(NAP),
                None => {}
            }
        }
    })
}

fn one_way_sender(control: Arc<Control>, mut tx: Box<dyn Tx>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut served = 0;
        let mut last = Instant::now();
        while !control.stop.load(Ordering::Relaxed) {
            let wanted = control.go.load(Ordering::SeqCst);
            if wanted != served {
                served = wanted;
                tx.send(control.len.load(Ordering::SeqCst), None);
                last = Instant::now();
            } else if last.elapsed() > IDLE {
                std::thread::sleep(NAP);
            } else {
                std::hint::spin_loop();
            }
        }
    })
}

fn stop_helper(control: &Control, handle: JoinHandle<()>) {
    control.stop.store(true, Ordering::SeqCst);
    handle.join().expect("helper thread");
}

fn round_trips(c: &mut Criterion, name: &str, mut pair: Pair, sizes: &[(usize, &str)]) {
    let control = Arc::new(Control::default());
    let helper = echo_thread(
        Arc::clone(&control),
        pair.peer_rx.take().unwrap(),
        pair.peer_tx.take().unwrap(),
    );
    let mut group = c.benchmark_group("transport");
    configure(&mut group);
    for &(len, label) in sizes {
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    pair.main_tx.send(len, Some(0));
                    let (_, got) = pair.main_rx.recv(RECV_TIMEOUT).expect("the echo");
                    debug_assert_eq!(got, len);
                }
                started.elapsed()
            })
        });
    }
    group.finish();
    stop_helper(&control, helper);
    pair.close();
}

fn one_way(c: &mut Criterion, name: &str, mut pair: Pair) {
    let control = Arc::new(Control::default());
    let helper = one_way_sender(Arc::clone(&control), pair.peer_tx.take().unwrap());
    let mut group = c.benchmark_group("transport");
    configure(&mut group);
    for (len, label) in SIZES {
        control.len.store(len, Ordering::SeqCst);
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter_custom(|iters| {
                let mut total = 0u64;
                for _ in 0..iters {
                    control.go.fetch_add(1, Ordering::SeqCst);
                    let (sent_at, got) = pair.main_rx.recv(RECV_TIMEOUT).expect("a frame");
                    total += monotonic_ns().saturating_sub(sent_at);
                    debug_assert_eq!(got, len);
                }
                Duration::from_nanos(total)
            })
        });
    }
    group.finish();
    stop_helper(&control, helper);
    pair.close();
}

/// One frame per Criterion sample (see `berth_benches::timing`), so the saved samples are
/// per-frame latencies: the median is the typical frame even when the shared machine
/// preempts a spinning thread now and then, and the p99 shows how often that happens.
fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    one_frame_per_sample(group, FRAMES, Duration::from_millis(300));
}

fn transport(c: &mut Criterion) {
    one_way(c, "berth_one_way", Pair::berth(true));
    one_way(c, "raw_one_way", Pair::raw(true));
    round_trips(c, "berth_round_trip", Pair::berth(true), &SIZES);
    round_trips(c, "raw_round_trip", Pair::raw(true), &SIZES);
    let woken: Vec<(usize, &str)> = SIZES
        .into_iter()
        .filter(|(_, label)| WOKEN_SIZES.contains(label))
        .collect();
    round_trips(c, "berth_round_trip_woken", Pair::berth(false), &woken);
    round_trips(c, "raw_round_trip_woken", Pair::raw(false), &woken);
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = transport
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the transport bench left resources behind");
}
