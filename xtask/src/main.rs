//! `cargo xtask`: the chores a developer and CI run, in plain Rust.

mod bench_report;
mod python_env;
mod soak;
mod steady_memory;
mod tasks;

use clap::{Parser, Subcommand};

/// Berth's build chores.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Create the Python environment host-process nodes and runner tests use.
    Setup,
    /// Build the standard base images (and check custom ones).
    BuildImages(tasks::BuildImagesArgs),
    /// Run every test: formatting, lints, Rust tests (real Docker, real iceoryx2), runner tests.
    Test,
    /// Build what is missing and run the example pipeline through a real container.
    Demo,
    /// Turn criterion's saved estimates into BENCHMARKS.md.
    BenchReport,
    /// Stream 20 ms frames through a container node; fail if host or container memory grows.
    SteadyMemory {
        /// How long to stream, in seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Most either may grow after the warm-up, in KiB.
        #[arg(long, default_value_t = 1024)]
        limit_kib: u64,
    },
    /// Long runs: many sessions in a row, then several at once for minutes, nothing left.
    Soak(soak::SoakArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Setup => python_env::ensure().map(drop),
        Task::BuildImages(args) => tasks::build_images(&args),
        Task::Test => tasks::test(),
        Task::Demo => tasks::demo(),
        Task::BenchReport => bench_report::bench_report(),
        Task::SteadyMemory { seconds, limit_kib } => {
            steady_memory::steady_memory(seconds, limit_kib)
        }
        Task::Soak(args) => soak::soak(&args),
    }
}
