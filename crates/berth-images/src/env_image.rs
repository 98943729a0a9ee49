//! Node environment images `berth/env:<hash16>`.

use serde::{Deserialize, Serialize};

use crate::builder::{ImageBuilder, ImageRef, label};
use crate::context::BuildContext;
use crate::error::{ImageError, Result};
use crate::labels::{self, Kind};
use crate::validate::parse_glibc;
use crate::wheelhouse::{ICEORYX2_WHEEL_GLIBC, WheelTarget, download_wheels};
use crate::{ICEORYX2_VERSION, Progress, Step, check_python_version};

/// What a node needs in its image. The caller computes `hash` from the manifest; this crate
/// only uses it as the image's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEnvironment {
    /// Python `MAJOR.MINOR`, e.g. `3.11`.
    pub python_version: String,
    /// A custom base image instead of the standard `berth/python:<version>`; it must already
    /// contain Python, iceoryx2 and numpy (checked before building).
    pub base_image: Option<String>,
    /// Debian packages to install (e.g. `libsndfile1`).
    pub system_dependencies: Vec<String>,
    /// pip requirements (e.g. `six==1.16.0`); each must be available as a wheel.
    pub python_packages: Vec<String>,
    /// Hex hash identifying this environment (at least 16 characters).
    pub hash: String,
}

/// Checks a pip requirement for option injection.
fn check_pip_requirement(req: &str) -> Result<()> {
    let bad = |reason| {
        Err(ImageError::InvalidPackage {
            kind: "python",
            name: req.to_string(),
            reason,
        })
    };
    if req.trim().is_empty() {
        return bad("it is empty");
    }
    if req.trim_start().starts_with('-') {
        return bad("it would be read as a pip option");
    }
    if req.contains(['\n', '\r', '\\', '"', '\'', '`', '$']) {
        return bad("it contains a newline, quote, backslash, backtick or $");
    }
    Ok(())
}

/// Quotes a word for a `/bin/sh` command line in a Dockerfile `RUN`.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl ImageBuilder {
    /// Makes sure the node image for `env` exists: `<namespace>/env:<hash16>` labelled with the
    /// full hash. Reused when the hash and the base image ID match; otherwise built FROM the
    /// standard base (made with `config.base_mode`) or the validated custom base.
    #[tracing::instrument(skip(self, env, progress), fields(hash = %env.hash))]
    pub async fn ensure_node_image(
        &self,
        env: &NodeEnvironment,
        progress: &dyn Progress,
    ) -> Result<ImageRef> {
        check_python_version(&env.python_version)?;
        let hash = env.hash.to_ascii_lowercase();
        if hash.len() < 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ImageError::InvalidEnvHash {
                hash: env.hash.clone(),
            });
        }
        for req in &env.python_packages {
            check_pip_requirement(req)?;
        }
        for p in &env.system_dependencies {
            crate::debs::check_deb_name(p)?;
        }
        let tag = self.env_image_tag(&hash);
        let _lock = self.build_lock(&tag, progress).await?;

        let (base_tag, base_id) = match &env.base_image {
            None => {
                let base = self
                    .ensure_base_image(&env.python_version, self.config.base_mode, progress)
                    .await?;
                (base.tag, base.id)
            }
            Some(custom) => {
                let info =
                    self.inspect(custom)
                        .await?
                        .ok_or_else(|| ImageError::ImageNotFound {
                            image: custom.clone(),
                        })?;
                (custom.clone(), info.id.unwrap_or_default())
            }
        };

        let existing = self.inspect(&tag).await?;
        if let Some(info) = &existing
            && label(info, labels::ENV_HASH) == Some(hash.as_str())
            && label(info, labels::BASE_ID) == Some(base_id.as_str())
        {
            return Ok(ImageRef {
                tag,
                id: info.id.clone().unwrap_or_default(),
                built: false,
            });
        }
        let custom = match &env.base_image {
            Some(_) => Some(
                self.validate_custom_base(&base_tag, &env.python_version)
                    .await?,
            ),
            None => None,
        };
        let base_info =
            self.inspect(&base_tag)
                .await?
                .ok_or_else(|| ImageError::ImageNotFound {
                    image: base_tag.clone(),
                })?;
        // The glibc decides which wheels the image loads: from the standard base's label, else
        // what the probe of the custom (or registry) base read.
        let glibc = match label(&base_info, labels::GLIBC)
            .and_then(|g| parse_glibc(&format!("glibc {g}")))
        {
            Some(glibc) => glibc,
            None => match custom {
                Some(c) => c.glibc,
                None => {
                    self.validate_custom_base(&base_tag, &env.python_version)
                        .await?
                        .glibc
                }
            }
            .ok_or_else(|| ImageError::ProbeFailed {
                image: base_tag.clone(),
                detail: "could not read its glibc version (Berth nodes need a glibc-based \
                         image, such as Debian or Ubuntu)"
                    .into(),
            })?,
        };
        let base_user = base_info
            .config
            .as_ref()
            .and_then(|c| c.user.clone())
            .filter(|u| !u.is_empty());
        let architecture = base_info
            .architecture
            .clone()
            .unwrap_or_else(|| "amd64".to_string());

        let work = tempfile::Builder::new()
            .prefix("berth-env-")
            .tempdir()
            .map_err(|e| {
                ImageError::io("creating a temporary directory", std::env::temp_dir(), e)
            })?;
        // Everything the build needs goes into one `COPY` and one `RUN`: the classic builder
        // commits a layer per instruction.
        let mut ctx = BuildContext::new();
        let mut commands: Vec<String> = Vec::new();

        if !env.system_dependencies.is_empty() {
            let debs_dir = work.path().join("debs");
            let debs = self
                .download_debs(
                    &base_tag,
                    &architecture,
                    &env.system_dependencies,
                    &debs_dir,
                    progress,
                )
                .await?;
            if debs.is_empty() {
                progress.line(&format!(
                    "{base_tag} already has {}",
                    env.system_dependencies.join(" ")
                ));
            } else {
                ctx.add_dir_files("berth/debs", &debs_dir)?;
                commands.push(
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
                     /tmp/berth/debs/*.deb"
                        .to_string(),
                );
                commands.push("rm -rf /var/cache/apt/archives/*.deb".to_string());
            }
        }

        if !env.python_packages.is_empty() {
            let wheels_dir = work.path().join("wheels");
            let constraints = work.path().join("constraints.txt");
            let pin = format!("iceoryx2=={ICEORYX2_VERSION}\n");
            std::fs::write(&constraints, &pin)
                .map_err(|e| ImageError::io("writing pip constraints", &constraints, e))?;
            progress.step(
                Step::Wheels,
                &format!("{} for {tag}", env.python_packages.join(" ")),
            );
            // The runtime's own requirement joins the resolution, so that no package drags in a
            // dependency (e.g. flatbuffers) at a version the installed iceoryx2 cannot use.
            let mut requirements = env.python_packages.clone();
            requirements.push(format!("iceoryx2=={ICEORYX2_VERSION}"));
            let built = if glibc < ICEORYX2_WHEEL_GLIBC {
                Some(
                    crate::source_wheel::ensure_iceoryx2_wheel(
                        &self.config.cache_dir,
                        &self.config.host_python,
                        glibc,
                        progress,
                    )
                    .await?,
                )
            } else {
                None
            };
            let target = WheelTarget {
                python_version: &env.python_version,
                glibc,
                find_links: built.as_deref(),
            };
            download_wheels(
                &self.config.host_python,
                &target,
                &requirements,
                Some(&constraints),
                &wheels_dir,
                progress,
            )
            .await?;
            ctx.add_dir_files("berth/wheels", &wheels_dir)?;
            ctx.add_bytes("berth/constraints.txt", pin.as_bytes())?;
            let reqs: Vec<String> = requirements.iter().map(|r| sh_quote(r)).collect();
            commands.push(format!(
                "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-index --no-cache-dir \
                 --disable-pip-version-check --find-links /tmp/berth/wheels \
                 -c /tmp/berth/constraints.txt {}",
                reqs.join(" ")
            ));
            commands.push(
                "if [ -d /opt/berth/venv ]; then chmod -R a+rX /opt/berth/venv; fi".to_string(),
            );
        }

        let mut dockerfile = format!("FROM {base_tag}\n");
        if !commands.is_empty() {
            commands.push("rm -rf /tmp/berth".to_string());
            if base_user.is_some() {
                dockerfile.push_str("USER root\n");
            }
            dockerfile.push_str("COPY berth/ /tmp/berth/\n");
            dockerfile.push_str(&format!("RUN {}\n", commands.join(" \\\n && ")));
        }
        let mut env_labels = labels::standard(Kind::Env);
        env_labels.insert(labels::ENV_HASH.to_string(), hash.clone());
        // Replaces the base's inherited definition hash, which describes the base.
        env_labels.insert(labels::DEFINITION_HASH.to_string(), hash.clone());
        env_labels.insert(labels::BASE_IMAGE.to_string(), base_tag.clone());
        env_labels.insert(labels::BASE_ID.to_string(), base_id);
        env_labels.insert(labels::PYTHON.to_string(), env.python_version.clone());
        env_labels.insert(labels::ICEORYX2.to_string(), ICEORYX2_VERSION.to_string());
        dockerfile.push_str(&labels::dockerfile_instruction(&env_labels));
        if let Some(user) = base_user.filter(|_| !commands.is_empty()) {
            dockerfile.push_str(&format!("USER {user}\n"));
        }
        ctx.add_bytes("Dockerfile", dockerfile.as_bytes())?;

        progress.step(Step::Build, &format!("{tag} FROM {base_tag}"));
        let id = self
            .build_from_context(&tag, ctx.finish()?, progress)
            .await?;
        self.remove_replaced(existing.and_then(|i| i.id), &id).await;
        Ok(ImageRef {
            tag,
            id,
            built: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_requirements_are_checked() {
        check_pip_requirement("six==1.16.0").unwrap();
        check_pip_requirement("numpy>=1.26,<3").unwrap();
        for bad in ["--index-url=http://x", "", "a\nb", "x'y", "$(id)"] {
            assert!(check_pip_requirement(bad).is_err(), "{bad:?}");
        }
        assert_eq!(sh_quote("numpy>=1"), "'numpy>=1'");
    }
}
