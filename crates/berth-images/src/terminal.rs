//! A terminal display of build progress: one spinner per step with its elapsed time, and a
//! plain line per step when output is not a terminal (CI logs).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::{Progress, Step};

/// Shows each build step as a spinner (or a log line) with its elapsed time.
pub struct Spinners {
    current: Mutex<Option<Current>>,
    tty: bool,
}

struct Current {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Default for Spinners {
    fn default() -> Self {
        Self::new()
    }
}

impl Spinners {
    /// A display on standard error.
    pub fn new() -> Self {
        Spinners {
            current: Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Ends the current step as done, printing how long it took.
    pub fn finish(&self) {
        self.end("done");
    }

    /// Ends the current step as failed (the caller reports the error).
    pub fn fail(&self) {
        self.end("FAILED");
    }

    fn end(&self, outcome: &str) {
        if let Some(current) = self.current.lock().expect("progress lock").take() {
            let done = format!(
                "  {outcome} {} ({:.1} s)",
                current.label,
                current.started.elapsed().as_secs_f64()
            );
            match current.bar {
                Some(bar) => bar.finish_with_message(done),
                None => eprintln!("{done}"),
            }
        }
    }
}

impl Progress for Spinners {
    fn step(&self, step: Step, what: &str) {
        self.finish();
        let label = format!("[{step}] {what}");
        let bar = if self.tty {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("  {label}");
            None
        };
        *self.current.lock().expect("progress lock") = Some(Current {
            label,
            started: Instant::now(),
            bar,
        });
    }

    fn line(&self, line: &str) {
        match self.current.lock().expect("progress lock").as_ref() {
            Some(Current { bar: Some(bar), .. }) => bar.set_message(line.trim().to_owned()),
            // Without a terminal, tool output stays in the error report of a failed step.
            _ => tracing::debug!("{line}"),
        }
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        self.finish();
    }
}
