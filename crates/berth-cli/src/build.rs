//! `berth build` and `berth images`: the images a manifest needs, and Berth's image cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth::Manifest;
use berth::images::{BuiltImages, ImageProvider};
use berth_images::terminal::Spinners;
use berth_images::{ImageBuilder, ImageBuilderConfig, PruneOptions};

/// Arguments of `berth images`.
#[derive(clap::Args)]
pub(crate) struct ImagesArgs {
    #[command(subcommand)]
    action: Option<ImagesAction>,
}

#[derive(clap::Subcommand)]
enum ImagesAction {
    /// Remove node images no container uses and no session used in the last N days.
    Prune {
        /// Keep what was used within this many days.
        #[arg(long, default_value_t = 7)]
        days: u64,
        /// Remove every Berth image not in use (bases and root filesystems too), whatever its age.
        #[arg(long)]
        all: bool,
    },
}

/// Builds (or reuses) the image of every container node of `manifest`, with a progress display,
/// and returns a provider that hands them to the session. `None` for a manifest without
/// container nodes: no Docker needed.
pub(crate) async fn images_with_progress(
    manifest: &Manifest,
) -> anyhow::Result<Option<Arc<dyn ImageProvider>>> {
    if manifest.nodes.iter().all(|n| n.docker.is_none()) {
        return Ok(None);
    }
    let (provider, _) = build_all(manifest).await?;
    Ok(Some(provider))
}

async fn build_all(
    manifest: &Manifest,
) -> anyhow::Result<(Arc<dyn ImageProvider>, Vec<(String, String)>)> {
    let spinners = Arc::new(Spinners::new());
    let provider = BuiltImages::connect()
        .await?
        .with_progress(spinners.clone());
    let images = provider.ensure_all(manifest).await;
    match &images {
        Ok(_) => spinners.finish(),
        Err(_) => spinners.fail(),
    }
    Ok((Arc::new(provider), images?))
}

/// `berth build FILE`: prints `node  image` for every container node.
pub(crate) fn build(file: &PathBuf) -> anyhow::Result<()> {
    let manifest = Manifest::from_path(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (_, images) = runtime.block_on(build_all(&manifest))?;
    if images.is_empty() {
        println!("{}: no container nodes, nothing to build", file.display());
    }
    for (node, tag) in images {
        println!("{node:<20} {tag}");
    }
    Ok(())
}

/// `berth images [prune]`.
pub(crate) fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let builder = ImageBuilder::with_config(
            berth_docker::connect_client().await?,
            ImageBuilderConfig::default(),
        );
        match args.action {
            None => {
                println!(
                    "{:<32} {:<7} {:<18} {:>9}  {:<10} LAST USED",
                    "TAG", "KIND", "ENV HASH", "SIZE", "BUILT"
                );
                for image in builder.list().await? {
                    println!(
                        "{:<32} {:<7} {:<18} {:>9}  {:<10} {}",
                        image.tag,
                        image.kind,
                        image
                            .env_hash
                            .as_deref()
                            .map_or("-", |h| &h[..h.len().min(16)]),
                        format!("{} MB", image.size / 1_000_000),
                        ago(Some(image.created)),
                        ago(image.last_used),
                    );
                }
            }
            Some(ImagesAction::Prune { days, all }) => {
                let options = PruneOptions {
                    unused_for: if all {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(days * 86_400)
                    },
                    all,
                };
                let removed = builder.prune_unused(options).await?;
                for tag in &removed {
                    println!("removed {tag}");
                }
                println!("{} images removed", removed.len());
            }
        }
        anyhow::Ok(())
    })
}

/// `3 days ago`, `5 min ago`, or `never`.
fn ago(time: Option<SystemTime>) -> String {
    let Some(time) = time else {
        return "never".into();
    };
    let secs = SystemTime::now()
        .duration_since(time)
        .unwrap_or_default()
        .as_secs();
    match secs {
        0..60 => "just now".into(),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..86_400 => format!("{} h ago", secs / 3_600),
        _ => format!("{} days ago", secs / 86_400),
    }
}
