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
/// whether numpy (the runner's other dependency) imports.
const PROBE_SCRIPT: &str = r#"
import json, sys
import os
r = {"python": "%d.%d" % sys.version_info[:2], "glibc": os.confstr("CS_GNU_LIBC_VERSION"), "iceoryx2": None, "iceoryx2_error": None, "numpy": False, "numpy_error": None}
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
    import numpy
    r["numpy"] = True
except Exception as e:
    r["numpy_error"] = "%s: %s" % (type(e).__name__, e)
r["unwritable"] = []
for folder in [p for p in os.environ.get("BERTH_PROBE_WRITABLE", "").split(":") if p]:
    try:
        path = os.path.join(folder, ".berth-probe-%d" % os.getpid())
        with open(path, "w") as f:
            f.write("x")
        os.remove(path)
    except Exception as e:
        r["unwritable"].append("%s (%s: %s)" % (folder, type(e).__name__, e))
r["user"] = "%d:%d" % (os.getuid(), os.getgid())
print("BERTH-PROBE " + json.dumps(r))
"#;

/// What the probe found in an image.
#[derive(Debug, Deserialize)]
struct ProbeReport {
    python: String,
    /// `glibc 2.36`, or none on a non-glibc image.
    glibc: Option<String>,
    iceoryx2: Option<String>,
    iceoryx2_error: Option<String>,
    numpy: bool,
    numpy_error: Option<String>,
    /// Bound folders the node's user cannot create files in.
    #[serde(default)]
    unwritable: Vec<String>,
    /// `uid:gid` the probe ran as.
    #[serde(default)]
    user: String,
}

/// What a valid custom base image offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomBase {
    /// Its glibc `(major, minor)`; `None` when it could not be read.
    pub glibc: Option<(u32, u32)>,
}

/// `"glibc 2.36"` → `(2, 36)`.
pub(crate) fn parse_glibc(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
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
    if !report.unwritable.is_empty() {
        out.push(format!(
            "in image {image}, user {} cannot create files in {}: a node there could not open \
             its shared memory; run Berth as a user that owns these host folders, or do not set \
             a USER in the image that overrides it",
            report.user,
            report.unwritable.join(", ")
        ));
    }
    if !report.numpy {
        out.push(format!(
            "image {image} lacks numpy, which the Berth runner needs (`import numpy` failed: \
             {}): add `RUN pip install numpy` to its Dockerfile",
            report.numpy_error.as_deref().unwrap_or("not importable")
        ));
    }
    out
}

impl ImageBuilder {
    /// Checks that `image` exists locally and has Python `python_version`, the host's iceoryx2
    /// version and numpy (the runner itself is mounted in at run time), by running a short-lived probe container
    /// (`berth.kind=probe`, no network, removed afterwards).
    #[tracing::instrument(skip(self))]
    pub async fn validate_custom_base(
        &self,
        image: &str,
        python_version: &str,
    ) -> Result<CustomBase> {
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
            Ok(CustomBase {
                glibc: report.glibc.as_deref().and_then(parse_glibc),
            })
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
        // Run as the nodes will: their user, their shared folders, HOME=/tmp.
        let run_as = &self.config.run_as;
        let writable: Vec<&str> = run_as
            .writable_binds
            .iter()
            .filter_map(|b| b.split(':').nth(1))
            .collect();
        for bind in &run_as.writable_binds {
            // A missing host folder would be made by the daemon, as root.
            let host = bind.split(':').next().unwrap_or_default();
            std::fs::create_dir_all(host)
                .map_err(|e| ImageError::io("creating a shared folder for the probe", host, e))?;
        }
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(entrypoint),
            cmd: Some(Vec::new()),
            user: run_as.user.clone(),
            env: Some(vec![
                "HOME=/tmp".to_string(),
                format!("BERTH_PROBE_WRITABLE={}", writable.join(":")),
            ]),
            labels: Some(container_labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                auto_remove: Some(false),
                binds: Some(run_as.writable_binds.clone()),
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

    fn report(python: &str, iceoryx2: Option<&str>, numpy: bool) -> ProbeReport {
        ProbeReport {
            python: python.to_string(),
            glibc: Some("glibc 2.36".to_string()),
            iceoryx2: iceoryx2.map(str::to_string),
            iceoryx2_error: None,
            numpy,
            numpy_error: None,
            unwritable: Vec::new(),
            user: "1000:1000".to_string(),
        }
    }

    #[test]
    fn glibc_versions_are_read() {
        assert_eq!(parse_glibc("glibc 2.36"), Some((2, 36)));
        assert_eq!(parse_glibc("glibc 2.31\n"), Some((2, 31)));
        assert_eq!(parse_glibc("musl"), None);
    }

    #[test]
    fn unwritable_shared_folders_are_a_problem() {
        let mut r = report("3.11", Some(ICEORYX2_VERSION), true);
        r.unwritable = vec!["/dev/shm (PermissionError: denied)".to_string()];
        let p = problems(&r, "acme/x:1", "3.11");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("user 1000:1000 cannot create files in /dev/shm"),
            "{p:?}"
        );
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
        assert!(p[2].contains("RUN pip install numpy"));
        let r = report("3.11", Some("0.0.1"), true);
        let p = problems(&r, "acme/tagger:2", "3.11");
        assert!(p[0].contains("iceoryx2 0.0.1"), "{p:?}");
    }
}
