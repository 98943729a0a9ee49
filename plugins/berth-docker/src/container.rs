//! The settings a node's container is created with.

use std::collections::HashMap;
use std::path::Path;

use berth_backend::{BackendError, LaunchSpec, Mount, Network, Realtime};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};

use crate::error::{is_not_found, operation_error};

/// Environment variable naming the tool that started a runner.
pub const ENV_MANAGED_BY: &str = "BERTH_MANAGED_BY";
/// Environment variable naming the runner's session.
pub const ENV_SESSION: &str = "BERTH_SESSION_ID";

/// Backend-wide choices that are not part of a [`LaunchSpec`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Give the container Docker's default network instead of none.
    pub network: bool,
    /// Run Docker's init as PID 1, so signals reach the runner.
    pub init: bool,
}

/// `berth-{session}-{node}-{6 random hex digits}`, restricted to what Docker accepts.
pub(crate) fn container_name(spec: &LaunchSpec) -> String {
    let suffix = fastrand::u32(..0x100_0000);
    format!(
        "berth-{}-{}-{suffix:06x}",
        name_part(&spec.session_id),
        name_part(&spec.node_id)
    )
}

fn name_part(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "x".into()
    } else {
        cleaned
    }
}

/// The host process's `uid:gid`, so files the runner creates in shared memory are ours.
pub fn host_user() -> String {
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}

/// The bind mounts: the spec's own (what the transport needs shared comes as mounts too).
pub(crate) fn binds(spec: &LaunchSpec) -> Result<Vec<String>, BackendError> {
    let mut binds = Vec::with_capacity(spec.mounts.len());
    for mount in &spec.mounts {
        binds.push(bind_of(mount).map_err(|detail| BackendError::Launch {
            node_id: spec.node_id.clone(),
            detail,
        })?);
    }
    Ok(binds)
}

fn bind_of(mount: &Mount) -> Result<String, String> {
    let side = |path: &Path, which: &str| -> Result<String, String> {
        let text = path
            .to_str()
            .ok_or_else(|| format!("mount {which} path {} is not valid UTF-8", path.display()))?;
        if !path.is_absolute() {
            return Err(format!("mount {which} path `{text}` must be absolute"));
        }
        if text.contains(':') || text.contains(',') {
            return Err(format!(
                "mount {which} path `{text}` contains `:` or `,`, which Docker binds cannot express; rename it"
            ));
        }
        Ok(text.to_owned())
    };
    let host = side(&mount.host_path, "host")?;
    let container = side(&mount.container_path, "container")?;
    Ok(if mount.read_only {
        format!("{host}:{container}:ro")
    } else {
        format!("{host}:{container}")
    })
}

/// The whole create request for `spec`'s runner in `image`.
pub(crate) fn create_body(
    spec: &LaunchSpec,
    image: &str,
    settings: Settings,
) -> Result<ContainerCreateBody, BackendError> {
    let mut env: Vec<String> = spec
        .env
        .iter()
        .filter(|(k, _)| k.as_str() != ENV_MANAGED_BY && k.as_str() != ENV_SESSION)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push(format!("{ENV_MANAGED_BY}=berth"));
    env.push(format!("{ENV_SESSION}={}", spec.session_id));
    let labels: HashMap<String, String> = spec.all_labels().into_iter().collect();
    let memory = spec
        .limits
        .memory_bytes
        .map(|bytes| {
            i64::try_from(bytes).map_err(|_| BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail: format!("memory limit of {bytes} bytes is too large"),
            })
        })
        .transpose()?;
    let nano_cpus = match spec.limits.cpu_cores {
        Some(cores) if !(cores.is_finite() && cores > 0.0) => {
            return Err(BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail: format!("CPU limit {cores} is not a positive number of cores"),
            });
        }
        Some(cores) => Some((cores * 1e9).round() as i64),
        None => None,
    };
    let working_dir = spec
        .working_dir
        .as_ref()
        .map(|dir| dir.to_string_lossy().into_owned());
    let user = host_user();
    let realtime = match spec.realtime {
        Some(realtime) => {
            realtime.check().map_err(|problem| BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail: problem.to_string(),
            })?;
            let root = user.starts_with("0:");
            realtime_settings(&realtime, root, realtime_budgeted_by_group())
        }
        None => RealtimeSettings::default(),
    };
    Ok(ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(spec.command.clone()),
        env: Some(env),
        labels: Some(labels),
        user: Some(user),
        working_dir,
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(HostConfig {
            binds: Some(binds(spec)?),
            memory,
            memory_swap: memory,
            nano_cpus,
            cpuset_cpus: spec.cpuset.clone(),
            ulimits: realtime.ulimits,
            cpu_realtime_runtime: realtime.budget,
            network_mode: Some(network_mode(spec, settings.network)),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: realtime.cap_add,
            security_opt: Some(vec!["no-new-privileges".into()]),
            auto_remove: Some(false),
            init: settings.init.then_some(true),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    })
}

/// What a container adds for a real-time node.
#[derive(Debug, Default, PartialEq)]
struct RealtimeSettings {
    /// Capabilities back after all were dropped.
    cap_add: Option<Vec<String>>,
    /// Resource limits.
    ulimits: Option<Vec<ResourcesUlimits>>,
    /// The container's real-time budget, µs a second.
    budget: Option<i64>,
}

/// What a container needs for its runner (the host's user, every capability dropped) to make
/// its frame thread `SCHED_FIFO` at `realtime.priority`: for any user but root, an
/// `RLIMIT_RTPRIO` of that priority (no capability reaches a user other than root); for root,
/// `CAP_SYS_NICE` back, which works where the container runtime may not raise a limit (it
/// takes `CAP_SYS_RESOURCE`, which some hosts withhold from it); and, where the kernel budgets
/// real-time threads by cgroup (`by_group`), the container's real-time budget.
fn realtime_settings(realtime: &Realtime, root: bool, by_group: bool) -> RealtimeSettings {
    let priority = i64::from(realtime.priority);
    let rtprio = ResourcesUlimits {
        name: Some("rtprio".into()),
        soft: Some(priority),
        hard: Some(priority),
    };
    RealtimeSettings {
        cap_add: root.then(|| vec!["SYS_NICE".into()]),
        ulimits: (!root).then(|| vec![rtprio]),
        budget: by_group.then_some(realtime.budget.as_micros() as i64),
    }
}

/// Whether this host's kernel budgets real-time threads by cgroup (cgroup v1 with
/// `CONFIG_RT_GROUP_SCHED`): a container's threads may then be real-time only with a budget of
/// their own. Docker runs on this host: its shared memory is this host's.
fn realtime_budgeted_by_group() -> bool {
    ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]
        .iter()
        .any(|root| Path::new(root).join("cpu.rt_runtime_us").exists())
}

/// The message for a real-time container that Docker could not start because it could not
/// raise its `RLIMIT_RTPRIO` or give it its real-time budget, or `None` when `error` is about
/// something else.
pub(crate) fn realtime_refused(spec: &LaunchSpec, error: &str) -> Option<String> {
    let realtime = spec.realtime?;
    if error.contains("rlimit") {
        return Some(format!(
            "the container runtime could not raise the container's real-time priority limit \
             (RLIMIT_RTPRIO {}): {error}; fix: run Docker with CAP_SYS_RESOURCE (a rootless \
             Docker has none), run the host as root (its containers get CAP_SYS_NICE instead), \
             or run without real-time scheduling",
            realtime.priority
        ));
    }
    let about_budget = ["rt_runtime", "real-time"]
        .iter()
        .any(|word| error.contains(word));
    about_budget.then(|| {
        format!(
            "Docker could not give the container a real-time budget of {} µs a second \
             (`Realtime::budget`): {error}; fix: give Docker's containers a real-time budget \
             that covers every real-time container at once (dockerd `--cpu-rt-runtime`, \
             `cpu-rt-runtime` in daemon.json, or `cpu.rt_runtime_us` of Docker's cgroup), \
             lower the budget, or run without real-time scheduling",
            realtime.budget.as_micros()
        )
    })
}

/// Docker's network mode for `spec`; a backend made `with_network(true)` gives nodes that ask
/// for none the default bridge. A node without network that names a container to share one
/// with joins that container's namespace (`container:<id>`): Docker then makes none for it.
fn network_mode(spec: &LaunchSpec, backend_default: bool) -> String {
    match (spec.network, &spec.network_of) {
        (Network::None, _) if backend_default => "bridge".into(),
        (Network::None, Some(holder)) => format!("container:{holder}"),
        (Network::None, None) => "none".into(),
        (Network::Bridge, _) => "bridge".into(),
        (Network::Host, _) => "host".into(),
    }
}

/// Checks that every mount's host path exists: Docker would create a missing one as root, and
/// the node would then see an empty folder it cannot write.
pub(crate) fn ensure_host_paths(spec: &LaunchSpec) -> Result<(), BackendError> {
    match spec.mounts.iter().find(|m| !m.host_path.exists()) {
        None => Ok(()),
        Some(missing) => Err(BackendError::Launch {
            node_id: spec.node_id.clone(),
            detail: format!(
                "the host path `{}` to mount at `{}` does not exist; create it first",
                missing.host_path.display(),
                missing.container_path.display()
            ),
        }),
    }
}

/// Checks that `image` exists locally: nothing can be pulled.
pub(crate) async fn ensure_image(
    docker: &Docker,
    image: &str,
    node_id: &str,
) -> Result<(), BackendError> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(BackendError::Launch {
            node_id: node_id.to_owned(),
            detail: missing_image(image),
        }),
        Err(e) => Err(operation_error("inspect image", image, &e)),
    }
}

/// The message for an image that is not there.
pub(crate) fn missing_image(image: &str) -> String {
    format!(
        "image `{image}` not found locally and no registry is reachable; build it with \
         `cargo xtask build-images`"
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use berth_backend::Limits;

    use super::*;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            session_id: "5f3a9c01".into(),
            node_id: "gain".into(),
            command: vec!["python3".into(), "-c".into(), "pass".into()],
            limits: Limits {
                memory_bytes: Some(128 << 20),
                cpu_cores: Some(1.5),
            },
            mounts: vec![Mount {
                host_path: "/srv/models".into(),
                container_path: "/models".into(),
                read_only: true,
            }],
            cpuset: Some("0".into()),
            working_dir: Some(PathBuf::from("/work")),
            ..LaunchSpec::default()
        }
    }

    #[test]
    fn a_real_time_node_gets_what_its_user_needs_and_a_budget_where_the_kernel_wants_one() {
        let realtime = Realtime {
            priority: 10,
            budget: std::time::Duration::from_millis(150),
        };
        let user = realtime_settings(&realtime, false, true);
        let rtprio = &user.ulimits.as_ref().unwrap()[0];
        assert_eq!(
            (rtprio.name.as_deref(), rtprio.soft, rtprio.hard),
            (Some("rtprio"), Some(10), Some(10))
        );
        assert_eq!((user.cap_add, user.budget), (None, Some(150_000)));
        let root = realtime_settings(&realtime, true, false);
        assert_eq!(
            root,
            RealtimeSettings {
                cap_add: Some(vec!["SYS_NICE".into()]),
                ulimits: None,
                budget: None,
            }
        );

        let settings = Settings {
            network: false,
            init: true,
        };
        let spec_rt = LaunchSpec {
            realtime: Some(realtime),
            ..spec()
        };
        let host = create_body(&spec_rt, "x", settings)
            .unwrap()
            .host_config
            .unwrap();
        if host_user().starts_with("0:") {
            assert_eq!(host.cap_add, Some(vec!["SYS_NICE".into()]));
            assert_eq!(host.ulimits, None);
        } else {
            assert_eq!(host.cap_add, None);
            assert_eq!(host.ulimits.map(|u| u[0].hard), Some(Some(10)));
        }
        let by_group = Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
            || Path::new("/sys/fs/cgroup/cpu,cpuacct/cpu.rt_runtime_us").exists();
        assert_eq!(host.cpu_realtime_runtime, by_group.then_some(150_000));
        assert_eq!(host.cap_drop, Some(vec!["ALL".into()]));
        let plain = create_body(&spec(), "x", settings).unwrap().host_config;
        let plain = plain.unwrap();
        assert_eq!(
            (plain.cap_add, plain.ulimits, plain.cpu_realtime_runtime),
            (None, None, None),
            "no capability comes back for an ordinary node"
        );

        let out_of_range = LaunchSpec {
            realtime: Some(Realtime::new(0)),
            ..spec()
        };
        let refused = create_body(&out_of_range, "x", settings).unwrap_err();
        assert!(refused.to_string().contains("1 to 99"), "{refused}");
    }

    #[test]
    fn a_budget_docker_cannot_give_names_its_setting() {
        let spec_rt = LaunchSpec {
            realtime: Some(Realtime::new(5)),
            ..spec()
        };
        let runc = "failed to write \"100000\": write /sys/fs/cgroup/cpu/docker/x/cpu.rt_runtime_us: \
                    invalid argument";
        let message = realtime_refused(&spec_rt, runc).unwrap();
        assert!(message.contains("--cpu-rt-runtime"), "{message}");
        assert!(message.contains("100000 µs a second"), "{message}");
        let rootless = "error setting rlimits for ready process: error setting rlimit type 14: \
                        operation not permitted";
        let message = realtime_refused(&spec_rt, rootless).unwrap();
        assert!(message.contains("CAP_SYS_RESOURCE"), "{message}");
        assert!(realtime_refused(&spec_rt, "no such image").is_none());
        assert!(
            realtime_refused(&spec(), runc).is_none(),
            "only a real-time node's start is about its budget"
        );
    }

    #[test]
    fn the_create_request_carries_every_setting() {
        let body = create_body(
            &spec(),
            "berth/python:3.11",
            Settings {
                network: false,
                init: true,
            },
        )
        .unwrap();
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds.unwrap(),
            vec!["/srv/models:/models:ro"],
            "only the spec's mounts: the transport's folders come as mounts too"
        );
        assert_eq!(host.memory, Some(128 << 20));
        assert_eq!(host.memory_swap, Some(128 << 20));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.cap_drop.unwrap(), vec!["ALL"]);
        assert_eq!(host.security_opt.unwrap(), vec!["no-new-privileges"]);
        assert_eq!(host.init, Some(true));
        assert_eq!(host.auto_remove, Some(false));
        let env = body.env.unwrap();
        assert!(env.contains(&"BERTH_MANAGED_BY=berth".to_owned()));
        assert!(env.contains(&"BERTH_SESSION_ID=5f3a9c01".to_owned()));
        let labels = body.labels.unwrap();
        assert_eq!(labels["berth.session"], "5f3a9c01");
        assert_eq!(labels["berth.node"], "gain");
        assert_eq!(labels["berth.managed-by"], "berth");
        assert_eq!(body.working_dir.as_deref(), Some("/work"));
        assert_eq!(body.user, Some(host_user()));
    }

    #[test]
    fn networking_is_opt_in() {
        let body = create_body(
            &spec(),
            "x",
            Settings {
                network: true,
                init: false,
            },
        )
        .unwrap();
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("bridge"));
        assert_eq!(host.init, None);
        let settings = Settings {
            network: false,
            init: true,
        };
        for (network, mode) in [
            (Network::None, "none"),
            (Network::Bridge, "bridge"),
            (Network::Host, "host"),
        ] {
            let body = create_body(&LaunchSpec { network, ..spec() }, "x", settings).unwrap();
            assert_eq!(
                body.host_config.unwrap().network_mode.as_deref(),
                Some(mode)
            );
        }
    }

    #[test]
    fn a_node_without_network_joins_the_namespace_it_is_given() {
        let mode = |network, backend_network| {
            let spec = LaunchSpec {
                network,
                network_of: Some("c0ffee".into()),
                ..spec()
            };
            let settings = Settings {
                network: backend_network,
                init: true,
            };
            create_body(&spec, "x", settings)
                .unwrap()
                .host_config
                .unwrap()
                .network_mode
                .unwrap()
        };
        assert_eq!(mode(Network::None, false), "container:c0ffee");
        // A node that asks for a network, or a backend that gives every node one, gets it.
        assert_eq!(mode(Network::Bridge, false), "bridge");
        assert_eq!(mode(Network::Host, false), "host");
        assert_eq!(mode(Network::None, true), "bridge");
    }

    #[test]
    fn unusable_mounts_and_limits_are_launch_errors() {
        let mut bad = spec();
        bad.mounts[0].host_path = "relative/dir".into();
        assert!(binds(&bad).unwrap_err().to_string().contains("absolute"));
        let mut bad = spec();
        bad.mounts[0].host_path = "/a:b".into();
        assert!(binds(&bad).unwrap_err().to_string().contains("`:`"));
        let mut bad = spec();
        bad.limits.cpu_cores = Some(0.0);
        assert!(
            create_body(
                &bad,
                "x",
                Settings {
                    network: false,
                    init: true
                }
            )
            .is_err()
        );
    }

    #[test]
    fn names_are_unique_and_docker_safe() {
        let mut spec = spec();
        spec.node_id = "a b/c".into();
        let first = container_name(&spec);
        assert!(first.starts_with("berth-5f3a9c01-a-b-c-"), "{first}");
        assert_ne!(first, container_name(&spec));
    }
}
