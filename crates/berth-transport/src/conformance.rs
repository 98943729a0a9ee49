//! The conformance suite every [`Transport`] implementation runs.
//!
//! Each check is a plain function over `&dyn Transport` that opens its own session with a fresh
//! random id, so checks never collide. [`transport_conformance_tests!`] turns the whole suite
//! into one `#[test]` per check for an implementation:
//!
//! ```text
//! #[global_allocator]
//! static ALLOCATOR: berth_transport::conformance::CountingAllocator =
//!     berth_transport::conformance::CountingAllocator;
//!
//! berth_transport::transport_conformance_tests!(|| MyTransport::new());
//! ```
//!
//! The [`CountingAllocator`] lets the suite check that the data path allocates nothing; a test
//! binary without it fails that check with the line to add.
//!
//! [`transport_conformance_tests!`]: crate::transport_conformance_tests

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::{
    ChannelName, ChannelRole, FrameKind, FrameSenderExt, SessionId, Transport, TransportConfig,
    TransportError, audio_samples,
};

const WAIT: Duration = Duration::from_secs(5);

fn session(
    transport: &dyn Transport,
    config: &TransportConfig,
) -> (SessionId, Box<dyn crate::SessionTransport>) {
    let id = SessionId::random();
    let session = transport.open_session(&id, config).expect("open a session");
    (id, session)
}

fn channel(session: &SessionId, role: ChannelRole) -> ChannelName {
    ChannelName::new(session, "node", role).expect("a valid channel name")
}

/// Audio written into a loaned frame arrives bit for bit, aligned, with its header fields.
pub fn audio_round_trip_is_bit_exact(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Input);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let samples: Vec<f32> = (0..960).map(|i| (i as f32 * 0.37).sin()).collect();
    let seq = tx.send_audio(&samples, 48_000, 1, 1234).unwrap();
    assert_eq!(seq, 0);
    let mut seen = false;
    let delivery = rx
        .receive_with(WAIT, &mut |header, payload| {
            assert_eq!(header.frame_kind(), Some(FrameKind::Audio));
            assert_eq!((header.sample_rate, header.channels), (48_000, 1));
            assert_eq!(header.timestamp_ns, 1234);
            assert_eq!(header.payload_len as usize, payload.len());
            assert_eq!(
                payload.as_ptr() as usize % 8,
                0,
                "payloads are 8-byte aligned"
            );
            let got = audio_samples(payload).expect("an aligned f32 payload");
            assert!(
                got.iter()
                    .zip(&samples)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
            assert_eq!(got.len(), samples.len());
            seen = true;
        })
        .unwrap()
        .expect("a frame within the timeout");
    assert!(seen);
    assert_eq!(delivery.lost_before, 0);
}

/// 10,000 frames sent in bursts no larger than the queue all arrive, in order, none lost.
pub fn every_sequence_number_is_accounted_for(transport: &dyn Transport) {
    let config = TransportConfig::default();
    let (id, session) = session(transport, &config);
    let name = channel(&id, ChannelRole::Output);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let total = 10_000u64;
    let mut next_expected = 0u64;
    let mut sent = 0u64;
    while next_expected < total {
        let burst = (config.queue_depth as u64).min(total - sent);
        for _ in 0..burst {
            let value = sent as f32;
            tx.send_audio(&[value; 4], 16_000, 1, sent).unwrap();
            sent += 1;
        }
        for _ in 0..burst {
            let delivery = rx
                .receive_with(WAIT, &mut |header, payload| {
                    assert_eq!(header.sequence, next_expected);
                    assert_eq!(audio_samples(payload).unwrap()[3], next_expected as f32);
                })
                .unwrap()
                .expect("no frame may go missing");
            assert_eq!(delivery.lost_before, 0);
            next_expected += 1;
        }
    }
    assert_eq!(next_expected, total);
}

/// A full reader queue holds the writer back and then reports backpressure; nothing queued is
/// overwritten.
pub fn a_full_queue_is_reported_never_overwritten(transport: &dyn Transport) {
    let config = TransportConfig {
        queue_depth: 4,
        send_timeout: Duration::from_millis(50),
        ..TransportConfig::default()
    };
    let (id, session) = session(transport, &config);
    let name = channel(&id, ChannelRole::Input);
    session.create_channel(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    for i in 0..4u64 {
        tx.send_bytes(FrameKind::Bytes, &i.to_le_bytes(), 0)
            .unwrap();
    }
    let started = Instant::now();
    let err = tx
        .send_bytes(FrameKind::Bytes, &4u64.to_le_bytes(), 0)
        .unwrap_err();
    assert!(matches!(err, TransportError::Backpressure { .. }), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "the writer waited first"
    );
    for i in 0..4u64 {
        rx.receive_with(WAIT, &mut |header, payload| {
            assert_eq!(header.sequence, i);
            assert_eq!(payload, i.to_le_bytes());
        })
        .unwrap()
        .expect("the queued frames survive");
    }
    // After the reader caught up the writer can go on.
    tx.send_bytes(FrameKind::Bytes, b"again", 0).unwrap();
    let delivery = rx
        .receive_with(WAIT, &mut |_, payload| assert_eq!(payload, b"again"))
        .unwrap();
    // The frame refused under backpressure was never delivered, so the reader is told of it.
    assert_eq!(
        delivery.expect("a frame").lost_before,
        0,
        "refused frames consume no sequence number"
    );
}

/// Text, JSON and bytes payloads keep their kind and content.
pub fn text_json_and_bytes_round_trip(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Control);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let cases: [(FrameKind, &[u8]); 4] = [
        (FrameKind::Text, "héllo".as_bytes()),
        (FrameKind::Json, br#"{"type":"ready"}"#),
        (FrameKind::Bytes, &[0, 255, 7]),
        (FrameKind::Bytes, &[]),
    ];
    for (kind, bytes) in cases {
        tx.send_bytes(kind, bytes, 9).unwrap();
        rx.receive_with(WAIT, &mut |header, payload| {
            assert_eq!(header.frame_kind(), Some(kind));
            assert_eq!(payload, bytes);
        })
        .unwrap()
        .expect("a frame");
    }
}

/// End-of-stream frames are delivered and flagged.
pub fn end_of_stream_is_delivered(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Input);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    tx.send_end_of_stream().unwrap();
    let mut eos = false;
    rx.receive_with(WAIT, &mut |header, payload| {
        eos = header.is_end_of_stream() && payload.is_empty();
    })
    .unwrap()
    .expect("a frame");
    assert!(eos);
}

/// A receive with nothing to read returns after its timeout, not before and not much later.
pub fn an_idle_receive_times_out(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Output);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let started = Instant::now();
    let got = rx
        .receive_with(Duration::from_millis(30), &mut |_, _| {
            panic!("no frame was sent")
        })
        .unwrap();
    let waited = started.elapsed();
    assert!(got.is_none());
    assert!(
        waited >= Duration::from_millis(25),
        "returned early: {waited:?}"
    );
    // Generous: a busy machine may be slow to run the thread again; a wait that ignores its
    // timeout is not.
    assert!(
        waited < Duration::from_secs(10),
        "returned late: {waited:?}"
    );
}

/// A reader blocked in another thread wakes up for a frame (no busy wait required).
pub fn a_blocked_reader_wakes_for_a_frame(transport: &dyn Transport) {
    let config = TransportConfig {
        spin: Duration::ZERO,
        ..TransportConfig::default()
    };
    let (id, session) = session(transport, &config);
    let name = channel(&id, ChannelRole::Output);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: gettid takes nothing and cannot fail.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        let started = Instant::now();
        let mut text = String::new();
        rx.receive_with(WAIT, &mut |_, payload| {
            text = String::from_utf8_lossy(payload).into_owned()
        })
        .unwrap()
        .expect("woken by the frame");
        (text, started.elapsed())
    });
    // Send only once the reader sleeps in the kernel (its thread's state is `S`), so the frame
    // must wake it rather than be found by a reader that was not waiting yet.
    let tid = tid_rx.recv().unwrap();
    let stat = format!("/proc/self/task/{tid}/stat");
    let asleep = || {
        std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('S'))
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + WAIT / 2;
    while !asleep() {
        assert!(Instant::now() < deadline, "the reader never went to sleep");
        std::thread::yield_now();
    }
    tx.send_bytes(FrameKind::Text, b"wake", 0).unwrap();
    let (text, waited) = reader.join().unwrap();
    assert_eq!(text, "wake");
    assert!(waited < WAIT, "the reader slept through the frame");
}

/// A receiver's wake-up descriptor, where it has one, reads idle once its wake-ups are taken
/// and turns readable when a frame is sent — what an event loop waits on.
pub fn the_wake_descriptor_turns_readable_on_a_frame(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Output);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let Some(fd) = rx.wake_fd() else {
        return; // the transport has none: its callers poll
    };
    let readable = |timeout_ms: i32| {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the length given.
        let n = unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        n == 1 && poll.revents & libc::POLLIN != 0
    };
    rx.clear_wakes();
    assert!(!readable(0), "idle before any frame");
    tx.send_bytes(FrameKind::Text, b"ring", 0).unwrap();
    assert!(
        readable(WAIT.as_millis() as i32),
        "a frame makes it readable"
    );
    rx.clear_wakes();
    let mut got = Vec::new();
    rx.receive_with(Duration::ZERO, &mut |_, payload| got = payload.to_vec())
        .unwrap()
        .expect("the frame is there");
    assert_eq!(got, b"ring");
    assert!(!readable(0), "idle again once its wake-ups are taken");
}

/// Every reader of a channel gets every frame.
pub fn every_reader_gets_every_frame(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Output);
    session.create_channel(&name).unwrap();
    let mut readers = [
        session.receiver(&name).unwrap(),
        session.receiver(&name).unwrap(),
    ];
    let mut tx = session.sender(&name).unwrap();
    for i in 0..3u64 {
        tx.send_bytes(FrameKind::Bytes, &i.to_le_bytes(), 0)
            .unwrap();
    }
    for rx in &mut readers {
        for i in 0..3u64 {
            rx.receive_with(WAIT, &mut |header, payload| {
                assert_eq!(header.sequence, i);
                assert_eq!(payload, i.to_le_bytes());
            })
            .unwrap()
            .expect("a frame");
        }
    }
}

/// Opening a channel that was never created fails with a clear error.
pub fn a_missing_channel_is_an_error(transport: &dyn Transport) {
    let (id, session) = session(transport, &TransportConfig::default());
    let name = ChannelName::new(&id, "nowhere", ChannelRole::Input).unwrap();
    let err = session.sender(&name).err().expect("no such channel");
    assert!(err.to_string().contains("nowhere"), "{err}");
    let err = session.receiver(&name).err().expect("no such channel");
    assert!(err.to_string().contains("nowhere"), "{err}");
}

/// When a session ends, nothing of it remains.
pub fn nothing_remains_after_a_session(transport: &dyn Transport) {
    let id = SessionId::random();
    {
        let session = transport
            .open_session(&id, &TransportConfig::default())
            .unwrap();
        let name = channel(&id, ChannelRole::Input);
        session.create_channel(&name).unwrap();
        let mut rx = session.receiver(&name).unwrap();
        let mut tx = session.sender(&name).unwrap();
        tx.send_audio(&[1.0; 960], 48_000, 1, 0).unwrap();
        rx.receive_with(WAIT, &mut |_, _| {})
            .unwrap()
            .expect("a frame");
        assert!(!transport.session_resources(&id).is_empty() || !transport.crosses_processes());
    }
    assert_eq!(transport.session_resources(&id), Vec::<String>::new());
    assert_eq!(transport.sweep_session(&id).unwrap(), 0);
}

/// The system allocator, counting the allocations each thread makes, so a check can tell
/// whether the code it runs allocated. Install it as the test binary's `#[global_allocator]`.
pub struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

impl CountingAllocator {
    /// Allocations (and reallocations) made on the calling thread so far.
    pub fn on_this_thread() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }

    fn count() {
        // `try_with`: a thread being torn down has no counter left, and must still allocate.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed to `System` unchanged; counting touches no allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Once a channel is up, receiving a frame allocates nothing and sending one allocates at most
/// `per_send` times (what the transport's own library does for a loan; zero for Berth's code):
/// counted over 1,000 frames in steady state (the first frames may set up what the channel
/// keeps).
pub fn the_data_path_allocates_at_most(transport: &dyn Transport, per_send: u64) {
    let before = CountingAllocator::on_this_thread();
    drop(std::hint::black_box(Box::new(0u64)));
    assert!(
        CountingAllocator::on_this_thread() > before,
        "this check counts allocations through `CountingAllocator`; add to the test binary: \
         #[global_allocator] static ALLOCATOR: berth_transport::conformance::CountingAllocator \
         = berth_transport::conformance::CountingAllocator;"
    );
    let (id, session) = session(transport, &TransportConfig::default());
    let name = channel(&id, ChannelRole::Input);
    session.create_channel(&name).unwrap();
    let mut rx = session.receiver(&name).unwrap();
    let mut tx = session.sender(&name).unwrap();
    let samples: Vec<f32> = (0..960).map(|i| i as f32).collect();
    let (mut sending, mut receiving) = (0, 0);
    let mut last = 0.0f32;
    const WARM_UP: u64 = 64;
    const COUNTED: u64 = 1000;
    for sequence in 0..WARM_UP + COUNTED {
        let counted = sequence >= WARM_UP;
        let before = CountingAllocator::on_this_thread();
        let sent = tx.send_audio(&samples, 48_000, 1, sequence).unwrap();
        let between = CountingAllocator::on_this_thread();
        rx.clear_wakes();
        let delivery = rx
            .receive_with(WAIT, &mut |header, payload| {
                assert_eq!(header.sequence, sequence);
                last = audio_samples(payload).expect("an aligned f32 payload")[959];
            })
            .unwrap()
            .expect("a frame within the timeout");
        let after = CountingAllocator::on_this_thread();
        assert_eq!((sent, delivery.lost_before, last), (sequence, 0, 959.0));
        if counted {
            sending += between - before;
            receiving += after - between;
        }
    }
    assert_eq!(
        receiving, 0,
        "{receiving} heap allocations receiving {COUNTED} frames"
    );
    assert!(
        sending <= per_send * COUNTED,
        "{sending} heap allocations sending {COUNTED} frames; at most {per_send} a frame expected"
    );
}

/// How long one check may take before the suite calls the transport hung: far more than any
/// check needs, so only a hang reaches it.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Runs one check on a thread of its own, failing with its name when it outlives
/// [`CHECK_TIME_LIMIT`] (a transport whose receive never returns must fail the suite, not hang
/// it); a check's own panic is passed on as it is.
pub fn within_time_limit(check: &str, run: impl FnOnce() + Send + 'static) {
    let (done_tx, done) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        run();
        let _ = done_tx.send(());
    });
    match done.recv_timeout(CHECK_TIME_LIMIT) {
        Ok(()) => worker.join().expect("the check finished"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The check panicked: its message is the failure.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
            "conformance check `{check}` did not finish within {CHECK_TIME_LIMIT:?}: the \
             transport hangs"
        ),
    }
}

/// Generates one `#[test]` per conformance check for the transport built by `$make`.
/// `sends_allocate: N` states how many heap allocations a send may make (what the transport's
/// library makes for a loan; 0 when left out); receives may make none.
#[macro_export]
macro_rules! transport_conformance_tests {
    ($make:expr) => {
        $crate::transport_conformance_tests!($make, sends_allocate: 0);
    };
    ($make:expr, sends_allocate: $per_send:expr) => {
        $crate::transport_conformance_tests!(@each $make;
            audio_round_trip_is_bit_exact,
            every_sequence_number_is_accounted_for,
            a_full_queue_is_reported_never_overwritten,
            text_json_and_bytes_round_trip,
            end_of_stream_is_delivered,
            an_idle_receive_times_out,
            a_blocked_reader_wakes_for_a_frame,
            the_wake_descriptor_turns_readable_on_a_frame,
            every_reader_gets_every_frame,
            a_missing_channel_is_an_error,
            nothing_remains_after_a_session,
        );
        #[test]
        fn the_data_path_allocates_at_most() {
            $crate::conformance::within_time_limit("the_data_path_allocates_at_most", || {
                let transport = ($make)();
                $crate::conformance::the_data_path_allocates_at_most(&transport, $per_send);
            });
        }
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::within_time_limit(stringify!($check), || {
                    let transport = ($make)();
                    $crate::conformance::$check(&transport);
                });
            }
        )*
    };
}
