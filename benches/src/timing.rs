//! How the round-trip benches time things: back to back (the next frame as soon as the last
//! one returned) or paced (one frame every 20 ms, like an audio callback; only the round trip
//! itself is timed), and the Criterion settings that keep one sample per frame, so a case's
//! saved samples are per-frame latencies and their 99th percentile means something.

use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, SamplingMode, measurement::WallTime};

/// One frame every 20 ms (960 samples at 48 kHz).
pub const PERIOD: Duration = Duration::from_millis(20);

/// Frames per back-to-back case.
pub const BACK_TO_BACK_FRAMES: usize = 1000;
/// Frames per paced case (`× 20 ms` of wall time).
pub const PACED_FRAMES: usize = 300;

/// Runs `iters` round trips back to back; returns the total time.
pub fn back_to_back(iters: u64, mut round_trip: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        round_trip();
    }
    started.elapsed()
}

/// Runs `iters` round trips, one every [`PERIOD`], sleeping in between; returns the sum of the
/// round trips alone.
pub fn paced(iters: u64, mut round_trip: impl FnMut()) -> Duration {
    staggered(iters, 1, |_| round_trip())
}

/// Paces several contenders side by side: every [`PERIOD`] each gets one round trip, contender
/// `k` of `n` starting `k/n` of a period after the slot's start, so each is paced at 20 ms
/// without running right after another, and drift of the machine over the run reaches all of
/// them alike. Runs `iters` slots; returns the sum of every round trip.
///
/// The slots keep one 20 ms clock across calls on a thread, as an audio device's callbacks
/// do: Criterion calls once per sample (one frame), and a schedule started at each call would
/// put the previous round trip and Criterion's own work into every gap (20.5 to 22.5 ms from
/// the 1st to the 99th percentile in a 3-container chain), so a node could not tell when its
/// next frame is due. The clock starts again when a call comes after its next slot has passed
/// (a new case, or a slow one).
pub fn staggered(iters: u64, contenders: usize, mut round_trip: impl FnMut(usize)) -> Duration {
    let step = PERIOD / contenders.max(1) as u32;
    let mut total = Duration::ZERO;
    let now = Instant::now();
    let mut slot = NEXT_SLOT
        .get()
        .filter(|next| *next > now)
        .unwrap_or(now + PERIOD);
    for _ in 0..iters {
        for k in 0..contenders {
            let due = slot + step * k as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let started = Instant::now();
            round_trip(k);
            total += started.elapsed();
        }
        slot += PERIOD;
        let now = Instant::now();
        if slot < now {
            slot = now + PERIOD;
        }
    }
    NEXT_SLOT.set(Some(slot));
    total
}

thread_local! {
    /// The next slot of this thread's 20 ms clock ([`staggered`]).
    static NEXT_SLOT: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// The `p` percentile (0 to 1) of `values` in ns, in µs: the value at round((n − 1)·p) of
/// them sorted (sorts `values`), as the benches' saved summaries count it.
pub fn percentile(values: &mut [u64], p: f64) -> f64 {
    values.sort_unstable();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index] as f64 / 1000.0
}

/// Whether a case is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Next frame as soon as the last returns.
    BackToBack,
    /// One frame every 20 ms.
    Paced,
}

impl Pacing {
    /// Times `iters` round trips this way.
    pub fn run(self, iters: u64, round_trip: impl FnMut()) -> Duration {
        match self {
            Pacing::BackToBack => back_to_back(iters, round_trip),
            Pacing::Paced => paced(iters, round_trip),
        }
    }
}

/// Sets `group` up so every Criterion sample is exactly one frame: flat sampling, `frames`
/// samples, and a target time too short for two frames a sample. (Criterion then warns that
/// it cannot finish in the target time; that is expected: the run takes `frames` frames.)
pub fn one_frame_per_sample(
    group: &mut BenchmarkGroup<'_, WallTime>,
    frames: usize,
    warm_up: Duration,
) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(frames)
        .warm_up_time(warm_up)
        .measurement_time(Duration::from_nanos(frames as u64 * 100))
        .nresamples(10_000);
}

/// [`one_frame_per_sample`] with the frame counts and warm-up of a pacing.
pub fn per_frame(group: &mut BenchmarkGroup<'_, WallTime>, pacing: Pacing) {
    match pacing {
        Pacing::BackToBack => {
            one_frame_per_sample(group, BACK_TO_BACK_FRAMES, Duration::from_millis(500))
        }
        Pacing::Paced => one_frame_per_sample(group, PACED_FRAMES, Duration::from_millis(400)),
    }
}
