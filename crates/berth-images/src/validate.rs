//! Checks that a custom base image can run Berth nodes.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};
use crate::labels::{self, Kind};
use crate::{ICEORYX2_VERSION, check_python_version};

/// How long a probe container may run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Marker in front of the probe's JSON report.
const REPORT_MARKER: &str = "BERTH-PROBE ";

/// Prints the Python version, the installed iceoryx2 version (and whether it imports) and
/// whether `berth.runner` is importable.
const PROBE_SCRIPT: &str = r#"
import json, sys
r = {"python": "%d.%d" % sys.version_info[:2], "iceoryx2": None, "iceoryx2_error": None, "runner": False, "runner_error": None}
try:
    import importlib.metadata as md
    r["iceoryx2"] = md.version("iceoryx2")
except Exception:
    pass
if r["iceoryx2"] is not None:
    try:
        import iceoryx2
    except Exception as e:
        r["iceoryx2_error"] = "%s: %s" % (type(e).__name__, e)
try:
    import berth.runner
    r["runner"] = True
except Exception as e:
    r["runner_error"] = "%s: %s" % (type(e).__name__, e)
print("BERTH-PROBE " + json.dumps(r))
"#;

/// What the probe found in an image.
#[derive(Debug, Deserialize)]
struct ProbeReport {
    python: String,
    iceoryx2: Option<String>,
    iceoryx2_error: Option<String>,
    runner: bool,
    runner_error: Option<String>,
}

/// Everything wrong with a probed image, each with the fix.
fn problems(report: &ProbeReport, image: &str, python_version: &str) -> Vec<String> {
    let mut out = Vec::new();
    if report.python != python_version {
        out.push(format!(
            "image {image} has Python {}, the manifest says {python_version}: change the \
             manifest's python version or base the image on Python {python_version}",
            report.python
        ));
    }
    match (&report.iceoryx2, &report.iceoryx2_error) {
        (None, _) => out.push(format!(
            "image {image} lacks iceoryx2: add `RUN pip install iceoryx2=={ICEORYX2_VERSION}` \
             (the host's version) to its Dockerfile"
        )),
        (Some(v), _) if v != ICEORYX2_VERSION => out.push(format!(
            "image {image} has iceoryx2 {v}, the host uses {ICEORYX2_VERSION} (versions must \
             match exactly): use `RUN pip install iceoryx2=={ICEORYX2_VERSION}` in its Dockerfile"
        )),
        (Some(_), Some(err)) => out.push(format!(
            "image {image} has iceoryx2 {ICEORYX2_VERSION} but it does not import ({err}); the \
             wheel needs glibc 2.34 or newer (Debian bookworm, Ubuntu 22.04 or newer)"
        )),
        _ => {}
    }
    if !report.runner {
        out.push(format!(
            "image {image} lacks the Berth runner (`import berth.runner` failed: {}): \
             `pip install berth-runner` from runner/python (e.g. copy runner/python into the \
             build context and `RUN pip install ./python`)",
            report.runner_error.as_deref().unwrap_or("not importable")
        ));
    }
    out
}

impl ImageBuilder {
    /// Checks that `image` exists locally and has Python `python_version`, the host's iceoryx2
    /// version and the Berth runner, by running a short-lived probe container
    /// (`berth.kind=probe`, no network, removed afterwards).
    #[tracing::instrument(skip(self))]
    pub async fn validate_custom_base(&self, image: &str, python_version: &str) -> Result<()> {
        check_python_version(python_version)?;
        if self.inspect(image).await?.is_none() {
            return Err(ImageError::ImageNotFound {
                image: image.to_string(),
            });
        }
        let (code, output) = self
            .run_probe(
                image,
                vec![
                    "python3".to_string(),
                    "-c".to_string(),
                    PROBE_SCRIPT.to_string(),
                ],
            )
            .await?;
        let report = output
            .lines()
            .find_map(|l| l.strip_prefix(REPORT_MARKER))
            .and_then(|json| serde_json::from_str::<ProbeReport>(json).ok());
        let Some(report) = report else {
            let hint = if output.contains("executable file not found") || code == 127 {
                " (no python3 on the image's PATH: base it on an image with Python)"
            } else {
                ""
            };
            return Err(ImageError::ProbeFailed {
                image: image.to_string(),
                detail: format!(
                    "probe exited with {code}{hint}; output:\n{}",
                    output.trim_end()
                ),
            });
        };
        let problems = problems(&report, image, python_version);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ImageError::CustomBaseMismatch {
                image: image.to_string(),
                problems,
            })
        }
    }

    /// Runs `entrypoint` in a fresh container of `image` and returns its exit code and
    /// combined output. The container is always removed.
    async fn run_probe(&self, image: &str, entrypoint: Vec<String>) -> Result<(i64, String)> {
        let mut container_labels = labels::standard(Kind::Probe);
        container_labels.insert(labels::BASE_IMAGE.to_string(), image.to_string());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(entrypoint),
            cmd: Some(Vec::new()),
            labels: Some(container_labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                auto_remove: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
            .await
            .map_err(|e| ImageError::docker(format!("creating a probe container of {image}"), e))?;
        let id = created.id;
        let result = async {
            self.docker.start_container(&id, None).await.map_err(|e| {
                ImageError::docker(format!("starting a probe container of {image}"), e)
            })?;
            let wait = async {
                let mut stream = self
                    .docker
                    .wait_container(&id, Some(WaitContainerOptionsBuilder::default().build()));
                match stream.next().await {
                    Some(Ok(r)) => Ok(r.status_code),
                    Some(Err(bollard::errors::Error::DockerContainerWaitError {
                        code, ..
                    })) => Ok(code),
                    Some(Err(e)) => Err(ImageError::docker(
                        format!("waiting for the probe container of {image}"),
                        e,
                    )),
                    None => Ok(-1),
                }
            };
            let code = tokio::time::timeout(PROBE_TIMEOUT, wait)
                .await
                .map_err(|_| ImageError::ProbeFailed {
                    image: image.to_string(),
                    detail: format!("the probe did not finish within {PROBE_TIMEOUT:?}"),
                })??;
            let mut logs = self.docker.logs(
                &id,
                Some(
                    LogsOptionsBuilder::default()
                        .stdout(true)
                        .stderr(true)
                        .build(),
                ),
            );
            let mut output = String::new();
            while let Some(item) = logs.next().await {
                match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => {
                        output.push_str(&String::from_utf8_lossy(&message));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(ImageError::docker(
                            format!("reading the probe output of {image}"),
                            e,
                        ));
                    }
                }
            }
            Ok((code, output))
        }
        .await;
        if let Err(e) = self
            .docker
            .remove_container(
                &id,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await
        {
            tracing::warn!(container = %id, error = %e, "could not remove probe container");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(python: &str, iceoryx2: Option<&str>, runner: bool) -> ProbeReport {
        ProbeReport {
            python: python.to_string(),
            iceoryx2: iceoryx2.map(str::to_string),
            iceoryx2_error: None,
            runner,
            runner_error: None,
        }
    }

    #[test]
    fn a_complete_image_has_no_problems() {
        let r = report("3.11", Some(ICEORYX2_VERSION), true);
        assert!(problems(&r, "acme/x:1", "3.11").is_empty());
    }

    #[test]
    fn problems_name_image_and_fix() {
        let r = report("3.9", None, false);
        let p = problems(&r, "acme/tagger:2", "3.11");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("has Python 3.9") && p[0].contains("says 3.11"));
        assert!(p[1].contains(&format!("RUN pip install iceoryx2=={ICEORYX2_VERSION}")));
        assert!(p[2].contains("pip install berth-runner"));
        let r = report("3.11", Some("0.0.1"), true);
        let p = problems(&r, "acme/tagger:2", "3.11");
        assert!(p[0].contains("iceoryx2 0.0.1"), "{p:?}");
    }
}
