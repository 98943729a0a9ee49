//! `berth`: validate a pipeline manifest, build its images, run it, watch what runs
//! (`ps`, `logs`), export the manifest's JSON Schema.

mod audio;
mod build;
mod latency;
mod logs;
mod ps;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run pipeline nodes in containers or host processes over zero-copy shared memory.
#[derive(Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a manifest; exit 0 when valid, 2 with every problem found.
    Validate {
        /// The pipeline manifest (YAML).
        file: PathBuf,
    },
    /// Stream audio through a pipeline in 20 ms chunks and report round-trip latency.
    Run(run::RunArgs),
    /// Build (or reuse) the image of every container node of a manifest and print the tags.
    Build {
        /// The pipeline manifest (YAML).
        file: PathBuf,
    },
    /// List Berth's images (tag, environment hash, size, last use), or prune them.
    Images(build::ImagesArgs),
    /// List the sessions that run now and their nodes: container, image, sharing, state,
    /// restarts, uptime, CPU %, memory and limit, frames and `process()` times.
    Ps(ps::PsArgs),
    /// Print a running session's node output, with times and ids.
    Logs(logs::LogsArgs),
    /// Print the JSON Schema of the manifest, for editors.
    Schema,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,berth::host_python=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Validate { file } => validate(&file),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&berth_manifest::json_schema())
                    .expect("a schema serializes")
            );
            ExitCode::SUCCESS
        }
        Command::Run(args) => match run::run(args) {
            Ok(run::Ended::Complete) => ExitCode::SUCCESS,
            // The shell's convention for "ended by SIGINT", after a clean stop.
            Ok(run::Ended::Interrupted) => ExitCode::from(130),
            Err(e) => report(Err(e)),
        },
        Command::Build { file } => report(build::build(&file)),
        Command::Images(args) => report(build::images(args)),
        Command::Ps(args) => report(ps::ps(args)),
        Command::Logs(args) => report(logs::logs(args)),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn validate(file: &std::path::Path) -> ExitCode {
    let result = berth_manifest::Manifest::from_path(file).and_then(|m| {
        m.validate_native_types(&berth::native::native_node_types())
            .map(|()| m)
    });
    match result {
        Ok(manifest) => {
            println!(
                "{}: valid ({} nodes, {} connections)",
                file.display(),
                manifest.nodes.len(),
                manifest.connections.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}
