//! Streams `docker build` and `docker import` through the Engine API.

use std::path::Path;

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use crate::Progress;
use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};

/// How many lines of the failing step an error keeps.
const STEP_LOG_LINES: usize = 80;

impl ImageBuilder {
    /// Builds `tag` from an in-memory tar context with the classic builder, forwarding every
    /// output line to `progress`. Labels belong in the Dockerfile (one `LABEL` instruction):
    /// build-option labels would cost one committed layer each. Returns the new image ID.
    pub(crate) async fn build_from_context(
        &self,
        tag: &str,
        context: Vec<u8>,
        progress: &dyn Progress,
    ) -> Result<String> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .build();
        let mut stream = self.docker.build_image(
            options,
            None,
            Some(bollard::body_full(Bytes::from(context))),
        );
        let mut step = String::from("(before the first step)");
        let mut step_log: Vec<String> = Vec::new();
        let mut pending = String::new();
        while let Some(item) = stream.next().await {
            let message = match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        pending.push_str(&text);
                        while let Some(pos) = pending.find('\n') {
                            let line: String = pending.drain(..=pos).collect();
                            let line = strip_ansi(&line);
                            let line = line.trim_end();
                            if line.starts_with("Step ") {
                                step = line.to_string();
                                step_log.clear();
                                tracing::info!(image = tag, %step, "build step");
                            } else {
                                step_log.push(line.to_string());
                            }
                            progress.line(line);
                        }
                    }
                    if let Some(status) = info.status {
                        progress.line(status.trim_end());
                    }
                    match info.error_detail.and_then(|d| d.message) {
                        Some(message) => message,
                        None => continue,
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => error,
                Err(e) => return Err(ImageError::docker(format!("building image {tag}"), e)),
            };
            if !pending.trim().is_empty() {
                step_log.push(pending.trim_end().to_string());
            }
            let skip = step_log.len().saturating_sub(STEP_LOG_LINES);
            return Err(ImageError::BuildFailed {
                image: tag.to_string(),
                step,
                message: message.trim_end().to_string(),
                log: step_log[skip..].join("\n"),
            });
        }
        let info = self
            .inspect(tag)
            .await?
            .ok_or_else(|| ImageError::BuildFailed {
                image: tag.to_string(),
                step,
                message: "the build finished but the image does not exist".to_string(),
                log: step_log.join("\n"),
            })?;
        Ok(info.id.unwrap_or_default())
    }

    /// Imports a root filesystem tarball as `repo:tag` (`docker import`), streaming the file.
    /// `changes` are Dockerfile instructions applied to the image (`LABEL`, `ENV`, `CMD`).
    pub(crate) async fn import_rootfs(
        &self,
        tarball: &Path,
        image: &str,
        changes: Vec<String>,
        progress: &dyn Progress,
    ) -> Result<String> {
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let file = tokio::fs::File::open(tarball)
            .await
            .map_err(|e| ImageError::io("opening the root filesystem tarball", tarball, e))?;
        let body = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        let mut stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(body)), None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(status) = info.status {
                        progress.line(status.trim_end());
                    }
                }
                Err(e) => {
                    return Err(ImageError::ImportFailed {
                        image: image.to_string(),
                        path: tarball.to_path_buf(),
                        message: e.to_string(),
                    });
                }
            }
        }
        let info = self
            .inspect(image)
            .await?
            .ok_or_else(|| ImageError::ImportFailed {
                image: image.to_string(),
                path: tarball.to_path_buf(),
                message: "the import finished but the image does not exist".to_string(),
            })?;
        Ok(info.id.unwrap_or_default())
    }
}

/// Removes ANSI escape sequences (the classic builder colours a step's stderr).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters and intermediates, then one final byte in '@'..='~'.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[91m/bin/sh: 1: \u{1b}[0m\u{1b}[91mapt-get: not found\u{1b}[0m"),
            "/bin/sh: 1: apt-get: not found"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
