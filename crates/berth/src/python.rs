//! Launching the Python runner: its spec, its command line, and (for host processes) its
//! sources, which this crate embeds and writes to a cache folder once per version.

use std::path::{Path, PathBuf};

use berth_backend::{LABEL_ENV_HASH, LaunchSpec, Limits, Mount, Realtime};
use berth_manifest::Executor;
use berth_transport::{SessionId, TransportConfig};
use sha2::{Digest, Sha256};

use crate::SessionError;
use crate::plan::PlannedNode;
use crate::runner_spec::RunnerSpec;

include!(concat!(env!("OUT_DIR"), "/runner_files.rs"));

/// Where node code is mounted in a container, by convention.
pub(crate) const CONTAINER_NODE_DIR: &str = "/app/nodes";

/// Where a container sees its session's owner file (read-only).
pub(crate) const CONTAINER_OWNER_FILE: &str = "/opt/berth/owner";

/// The variable naming the owner file a runner watches: when its lock comes free, the host
/// is gone and the runner stops.
pub(crate) const ENV_OWNER_LOCK: &str = "BERTH_OWNER_LOCK";

/// Where the host's runner is mounted (read-only) in every container; it goes first on
/// `PYTHONPATH`, so images carry only Python and the runner's dependencies.
pub(crate) const CONTAINER_RUNNER_DIR: &str = "/opt/berth/runner";

/// Set in a container's environment: the runner may write its own modules' bytecode, into the
/// writable folder mounted over its package's `__pycache__` (`runner_bytecode_dir`).
pub(crate) const ENV_RUNNER_BYTECODE: &str = "BERTH_RUNNER_BYTECODE";

/// The runner spec of `docs/PROTOCOL.md` for one node; `transport` adds what the runner needs
/// to reach the session's channels (the transport's own fields).
pub(crate) fn runner_spec(
    node: &PlannedNode,
    session: &SessionId,
    transport: &[(String, String)],
    node_dirs: &[PathBuf],
    config: &TransportConfig,
    realtime: Option<Realtime>,
) -> RunnerSpec {
    RunnerSpec {
        session_id: session.as_str().to_owned(),
        node_id: node.spec.id.clone(),
        node_type: node.spec.node_type.clone(),
        params: node.spec.params.clone(),
        inputs: node.reads.iter().map(|c| c.as_str().to_owned()).collect(),
        output: node.output.as_str().to_owned(),
        control: node.control.as_str().to_owned(),
        node_dirs: node_dirs.iter().map(|d| d.display().to_string()).collect(),
        spin_us: Some(config.spin.as_micros() as u64),
        anticipate_us: Some(config.anticipate.as_micros() as u64),
        max_frame_bytes: Some(config.max_frame_bytes as u64),
        timeout_ms: Some(node.spec.timeout_ms.unwrap_or(0)),
        module: None,
        coroutine_driver: None,
        exit_linger_ms: None,
        stats_interval_ms: None,
        send_timeout_ms: Some(config.send_timeout.as_millis() as u64),
        realtime_priority: realtime.map(|r| r.priority),
        transport: transport.iter().cloned().collect(),
    }
}

/// What every node of a session is launched with.
pub(crate) struct SessionLaunch<'a> {
    /// The session.
    pub(crate) session: &'a SessionId,
    /// The transport's fields of the runner spec.
    pub(crate) runner_fields: &'a [(String, String)],
    /// Host folders the transport needs runners in containers to share.
    pub(crate) shared_paths: &'a [PathBuf],
    /// The manifest's folder: relative paths start there.
    pub(crate) base_dir: &'a Path,
    /// The host interpreter for host-process nodes.
    pub(crate) python: &'a str,
    /// The session's owner file, which runners watch.
    pub(crate) owner: &'a Path,
    /// Channel sizes and waiting.
    pub(crate) config: &'a TransportConfig,
    /// Real-time scheduling for every node's frame thread.
    pub(crate) realtime: Option<Realtime>,
}

/// Set in every runner's environment unless the node's (or, for a host process, the host's)
/// environment sets it: numpy's OpenBLAS otherwise starts a thread per CPU at import, which
/// spins for about 100 ms of CPU before it sleeps (`import numpy` took 0.18-0.20 s of CPU
/// against 0.07-0.08 s with one thread, here) — CPU that containers starting together share.
/// A node that wants threaded linear algebra sets its own value in `docker.env`.
pub(crate) const BLAS_THREADS: (&str, &str) = ("OPENBLAS_NUM_THREADS", "1");

/// A container node's container, before it belongs to anyone: image, mounts, environment,
/// limits and labels — everything that makes two containers interchangeable — and the folders
/// the runner looks for node code in.
pub(crate) struct ContainerSpec {
    /// The spec without session, owner or command.
    pub(crate) spec: LaunchSpec,
    /// Where node code is inside the container.
    pub(crate) node_dirs: Vec<PathBuf>,
}

/// The container of a Python node with a `docker:` block.
pub(crate) fn container_spec(
    node: &PlannedNode,
    base_dir: &Path,
    image: Option<String>,
    shared_paths: &[PathBuf],
) -> Result<ContainerSpec, SessionError> {
    let docker = node
        .spec
        .docker
        .as_ref()
        .expect("container nodes have a docker block");
    let mut spec = LaunchSpec {
        node_id: node.spec.id.clone(),
        ..LaunchSpec::default()
    };
    spec.env.insert("PYTHONUNBUFFERED".into(), "1".into());
    spec.env
        .insert(BLAS_THREADS.0.into(), BLAS_THREADS.1.into());
    // The transport's folders first, at the same path and writable: the runner reaches the
    // channels through them.
    spec.mounts.extend(shared_paths.iter().map(|path| Mount {
        host_path: path.clone(),
        container_path: path.clone(),
        read_only: false,
    }));
    let mut node_dirs = vec![PathBuf::from(CONTAINER_NODE_DIR)];
    for volume in &docker.volumes {
        let host = base_dir.join(&volume.host_path);
        let host = host.canonicalize().map_err(|source| SessionError::Volume {
            node_id: node.spec.id.clone(),
            host_path: volume.host_path.clone(),
            resolved: host.clone(),
            source,
        })?;
        let container_path = PathBuf::from(&volume.container_path);
        if !node_dirs.contains(&container_path) && container_path.starts_with("/app") {
            node_dirs.push(container_path.clone());
        }
        spec.mounts.push(Mount {
            host_path: host,
            container_path,
            read_only: volume.read_only,
        });
    }
    spec.env
        .extend(docker.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let runner = materialize_runner()?;
    let bytecode = runner_bytecode_dir(&runner, &docker.environment_hash())?;
    spec.mounts.push(Mount {
        host_path: runner,
        container_path: PathBuf::from(CONTAINER_RUNNER_DIR),
        read_only: true,
    });
    spec.mounts.push(Mount {
        host_path: bytecode,
        container_path: Path::new(CONTAINER_RUNNER_DIR)
            .join("berth")
            .join("__pycache__"),
        read_only: false,
    });
    spec.env.insert(ENV_RUNNER_BYTECODE.into(), "1".into());
    let python_path = match docker.env.get("PYTHONPATH") {
        Some(theirs) if !theirs.is_empty() => format!("{CONTAINER_RUNNER_DIR}:{theirs}"),
        _ => CONTAINER_RUNNER_DIR.to_owned(),
    };
    spec.env.insert("PYTHONPATH".into(), python_path);
    let limits = docker.resource_limits.as_ref();
    spec.limits = Limits {
        memory_bytes: limits.and_then(|l| l.memory_mb).map(|mb| mb << 20),
        cpu_cores: limits.and_then(|l| l.cpu_cores),
    };
    spec.image = image;
    spec.network = match docker.network {
        berth_manifest::DockerNetwork::None => berth_backend::Network::None,
        berth_manifest::DockerNetwork::Bridge => berth_backend::Network::Bridge,
        berth_manifest::DockerNetwork::Host => berth_backend::Network::Host,
    };
    spec.labels
        .insert(LABEL_ENV_HASH.into(), docker.environment_hash());
    spec.env.insert("HOME".into(), "/tmp".into());
    Ok(ContainerSpec { spec, node_dirs })
}

/// Gives a container spec its owner: the owner's id labels it, and its owner file (mounted
/// read-only) stops the runner when the owner is gone.
pub(crate) fn owned_by(mut spec: LaunchSpec, owner_id: &SessionId, owner: &Path) -> LaunchSpec {
    spec.session_id = owner_id.to_string();
    spec.mounts.push(Mount {
        host_path: owner.to_path_buf(),
        container_path: PathBuf::from(CONTAINER_OWNER_FILE),
        read_only: true,
    });
    spec.env
        .insert(ENV_OWNER_LOCK.into(), CONTAINER_OWNER_FILE.into());
    spec
}

/// `python3 -m berth.runner --spec <runner spec>`: a runner of one node.
pub(crate) fn runner_command(python: &str, runner: &RunnerSpec) -> Vec<String> {
    vec![
        python.to_owned(),
        "-m".into(),
        "berth.runner".into(),
        "--spec".into(),
        serde_json::to_string(runner).expect("a runner spec is JSON"),
    ]
}

/// The launch spec of a Python node for its executor's backend.
pub(crate) fn launch_spec(
    node: &PlannedNode,
    launch: &SessionLaunch<'_>,
    image: Option<String>,
) -> Result<LaunchSpec, SessionError> {
    let SessionLaunch {
        session,
        runner_fields,
        shared_paths,
        base_dir,
        python,
        owner,
        config,
        realtime,
    } = *launch;
    if let (Executor::Docker, Some(_)) = (&node.executor, &node.spec.docker) {
        let container = container_spec(node, base_dir, image, shared_paths)?;
        let runner = runner_spec(
            node,
            session,
            runner_fields,
            &container.node_dirs,
            config,
            realtime,
        );
        let mut spec = owned_by(container.spec, session, owner);
        spec.command = runner_command("python3", &runner);
        spec.realtime = realtime;
        return Ok(spec);
    }
    let mut spec = LaunchSpec {
        session_id: session.to_string(),
        node_id: node.spec.id.clone(),
        ..LaunchSpec::default()
    };
    spec.env.insert("PYTHONUNBUFFERED".into(), "1".into());
    if std::env::var_os(BLAS_THREADS.0).is_none() {
        spec.env
            .insert(BLAS_THREADS.0.into(), BLAS_THREADS.1.into());
    }
    let node_dirs = vec![base_dir.join("nodes")];
    let runner = runner_spec(node, session, runner_fields, &node_dirs, config, realtime);
    spec.realtime = realtime;
    let runner_dir = materialize_runner()?;
    let python_path = match std::env::var("PYTHONPATH") {
        Ok(existing) if !existing.is_empty() => {
            format!("{}:{existing}", runner_dir.display())
        }
        _ => runner_dir.display().to_string(),
    };
    spec.env.insert("PYTHONPATH".into(), python_path);
    spec.env
        .insert(ENV_OWNER_LOCK.into(), owner.display().to_string());
    spec.working_dir = Some(base_dir.to_path_buf());
    spec.command = runner_command(python, &runner);
    Ok(spec)
}

/// Writes the embedded runner to `<cache>/runner/<hash>/berth/` once, and returns the folder to
/// put on `PYTHONPATH` (host processes) or mount (containers). The cache folder is the user's
/// own (`0700`), so nobody else can plant code that nodes would import.
pub(crate) fn materialize_runner() -> Result<PathBuf, SessionError> {
    // Once per process: every node of every session uses the same folder.
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir.clone());
    }
    let dir = write_runner()?;
    Ok(DIR.get_or_init(|| dir).clone())
}

/// Where containers of one environment keep the compiled runner (`<runner>.pycache/<env>`),
/// mounted writable over the runner package's `__pycache__`: the runner's mount is read-only,
/// so without it every container start compiles the runner again (about 20 ms of CPU). One
/// folder per environment, so no environment runs bytecode another wrote; open to every user
/// (a container's user is its own, its capabilities dropped) but reached only through the
/// user's private cache.
fn runner_bytecode_dir(runner: &Path, env_hash: &str) -> Result<PathBuf, SessionError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = runner.with_extension("pycache").join(env_hash);
    let make = || -> std::io::Result<()> {
        // The mount point, inside the read-only runner folder.
        std::fs::create_dir_all(runner.join("berth").join("__pycache__"))?;
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
    };
    make().map_err(|source| SessionError::Cache {
        what: "the compiled Python runner",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Writes the embedded runner once into the user's cache, if not there already.
fn write_runner() -> Result<PathBuf, SessionError> {
    let mut hasher = Sha256::new();
    for (path, text) in RUNNER_FILES {
        hasher.update(path.as_bytes());
        hasher.update(text.as_bytes());
    }
    let hash = hasher.finalize();
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let parent = berth_cache::default_cache_dir().join("runner");
    berth_cache::private_dir(&parent).map_err(|source| SessionError::Cache {
        what: "the Python runner",
        path: parent.clone(),
        source,
    })?;
    let root = parent.join(&hex);
    if root.join("berth").join("__init__.py").exists() {
        return Ok(root);
    }
    static STAGING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = STAGING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = parent.join(format!(".{hex}.{}.{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for (path, text) in RUNNER_FILES {
            let file = staging.join("berth").join(path);
            let folder = file.parent().expect("files live in a folder");
            std::fs::create_dir_all(folder)?;
            std::fs::write(&file, text)?;
            // Modes set, not left to the process's umask: containers read and search these.
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
            for dir in folder.ancestors().take_while(|d| d.starts_with(&staging)) {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        match std::fs::rename(&staging, &root) {
            // Another process won the race; its copy is identical.
            Err(_) if root.exists() => std::fs::remove_dir_all(&staging),
            other => other,
        }
    };
    write().map_err(|source| SessionError::Cache {
        what: "the Python runner",
        path: root.clone(),
        source,
    })?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    #[test]
    fn runners_get_one_blas_thread_unless_the_node_says_otherwise() {
        let manifest = berth_manifest::Manifest::from_yaml_str(
            r#"version: "v1"
metadata: { name: "blas" }
nodes:
  - id: plain
    node_type: Gain
    docker: { python_version: "3.11" }
  - id: threaded
    node_type: Gain
    docker: { python_version: "3.11", env: { OPENBLAS_NUM_THREADS: "4" } }
"#,
            "blas.yaml",
        )
        .unwrap();
        let plan = Plan::new(&manifest, SessionId::random()).unwrap();
        let env_of = |id: &str| {
            let node = plan.nodes.iter().find(|n| n.spec.id == id).unwrap();
            container_spec(node, Path::new("."), None, &[])
                .unwrap()
                .spec
                .env
        };
        assert_eq!(env_of("plain")[BLAS_THREADS.0], "1");
        assert_eq!(
            env_of("threaded")[BLAS_THREADS.0],
            "4",
            "the node's own value wins"
        );
    }

    #[test]
    fn the_runner_is_embedded_and_materialized() {
        assert!(RUNNER_FILES.iter().any(|(p, _)| *p == "__init__.py"));
        let dir = materialize_runner().unwrap();
        assert!(dir.join("berth/__init__.py").is_file());
        assert_eq!(
            materialize_runner().unwrap(),
            dir,
            "written once, then reused"
        );
    }
}
