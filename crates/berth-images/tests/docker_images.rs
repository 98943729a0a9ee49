//! End-to-end tests against the real Docker daemon: offline base build, reuse, node
//! environments, custom base validation and pruning.
//!
//! Without a daemon these tests print `SKIPPED: Docker daemon not reachable` and pass, unless
//! `BERTH_REQUIRE_DOCKER=1` is set, in which case they fail.
//!
//! Images live under the `berthtest-images/` namespace. Node images are removed by the tests;
//! the base (`berthtest-images/python:3.11`) and root filesystem images are kept as a cache,
//! so only the first run pays for the cold build.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use berth_images::{
    BaseMode, ICEORYX2_VERSION, ImageBuilder, ImageBuilderConfig, ImageError, NodeEnvironment,
    labels,
};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptions, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

/// Image namespace of these tests, so they never touch the real `berth/*` images.
const NAMESPACE: &str = "berthtest-images";

/// Serializes the tests: they share the base image and (on 2 cores) build faster one at a time.
static DOCKER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A builder for the test namespace, or `None` (after a loud notice) without a daemon.
async fn builder_or_skip() -> Option<ImageBuilder> {
    let config = ImageBuilderConfig {
        namespace: NAMESPACE.to_string(),
        base_mode: BaseMode::Offline,
        ..ImageBuilderConfig::default()
    };
    match berth_docker::connect_client().await {
        Ok(docker) => Some(ImageBuilder::with_config(docker, config)),
        Err(e) => skip(&e.to_string()),
    }
}

fn skip(reason: &str) -> Option<ImageBuilder> {
    if std::env::var("BERTH_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("BERTH_REQUIRE_DOCKER=1 but the Docker daemon is not reachable: {reason}");
    }
    // Written to the stderr handle directly so the test harness does not capture it.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: Docker daemon not reachable ({reason})"
    );
    None
}

/// Prints progress lines with the seconds since the first line (visible with `--nocapture`).
fn progress(line: &str) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    println!("  {t:7.1}s | {line}");
}

/// A random-enough 64-hex environment hash, unique per call.
fn unique_hash(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{tag}-{}-{nanos}-{n}", std::process::id());
    // Cheap 64-bit FNV-1a, repeated with different salts, is enough for unique test tags.
    (0..4u8)
        .map(|salt| {
            let mut h: u64 = 0xcbf29ce484222325 ^ u64::from(salt);
            for b in seed.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// Runs `cmd` in a fresh container of `image` as `user`; returns exit code and output.
/// The container is always removed.
async fn run_in(docker: &Docker, image: &str, user: &str, cmd: &[&str]) -> (i64, String) {
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        user: Some(user.to_string()),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([
            (
                labels::MANAGED_BY.to_string(),
                labels::MANAGED_BY_VALUE.to_string(),
            ),
            (labels::KIND.to_string(), "test".to_string()),
        ])),
        ..Default::default()
    };
    let id = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
        .await
        .expect("create test container")
        .id;
    let result = async {
        docker.start_container(&id, None).await?;
        let code = match docker
            .wait_container(&id, Some(WaitContainerOptionsBuilder::default().build()))
            .next()
            .await
        {
            Some(Ok(r)) => r.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e),
            None => -1,
        };
        let mut output = String::new();
        let mut logs = docker.logs(
            &id,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        );
        while let Some(item) = logs.next().await {
            if let LogOutput::StdOut { message } | LogOutput::StdErr { message } = item? {
                output.push_str(&String::from_utf8_lossy(&message));
            }
        }
        Ok((code, output))
    }
    .await;
    docker
        .remove_container(
            &id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .expect("remove test container");
    result.expect("run test container")
}

async fn remove_image(docker: &Docker, tag: &str) {
    let _ = docker
        .remove_image(tag, None::<RemoveImageOptions>, None)
        .await;
}

/// No probe container of `image` is left behind.
async fn assert_no_probe_containers(docker: &Docker, image: &str) {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{}=probe", labels::KIND),
            format!("{}={image}", labels::BASE_IMAGE),
        ],
    )]);
    let left = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    assert!(left.is_empty(), "probe containers left behind: {left:?}");
}

fn env(hash: &str, packages: &[&str], system: &[&str]) -> NodeEnvironment {
    NodeEnvironment {
        python_version: "3.11".to_string(),
        base_image: None,
        system_dependencies: system.iter().map(|s| s.to_string()).collect(),
        python_packages: packages.iter().map(|s| s.to_string()).collect(),
        hash: hash.to_string(),
    }
}

#[tokio::test]
async fn offline_base_image_runs_as_non_root_and_is_reused() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;

    let start = Instant::now();
    let base = builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .expect("offline base build");
    eprintln!(
        "TIMING base ensure ({}): {:.1?}",
        if base.built { "built" } else { "reused" },
        start.elapsed()
    );
    assert_eq!(base.tag, format!("{NAMESPACE}/python:3.11"));

    let info = builder.docker().inspect_image(&base.tag).await.unwrap();
    let image_labels = info.config.unwrap().labels.unwrap();
    assert_eq!(image_labels[labels::MANAGED_BY], "berth");
    assert_eq!(image_labels[labels::KIND], "base");
    assert_eq!(image_labels[labels::PYTHON], "3.11");
    assert_eq!(image_labels[labels::ICEORYX2], ICEORYX2_VERSION);
    assert_eq!(image_labels[labels::DEFINITION_HASH].len(), 64);
    assert_eq!(image_labels[labels::GLIBC], "2.36");

    let (code, out) = run_in(
        builder.docker(),
        &base.tag,
        "1000:1000",
        &[
            "python",
            "-c",
            "import iceoryx2, numpy, os, sys, importlib.metadata as md; \
             print(md.version('iceoryx2'), os.getuid(), os.environ['HOME'], sys.prefix)",
        ],
    )
    .await;
    assert_eq!(code, 0, "imports failed as uid 1000:\n{out}");
    assert_eq!(
        out.trim(),
        format!("{ICEORYX2_VERSION} 1000 /tmp /opt/berth/venv"),
        "{out}"
    );

    let start = Instant::now();
    let again = builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let warm = start.elapsed();
    eprintln!("TIMING base ensure (warm): {warm:.1?}");
    assert!(!again.built, "second ensure rebuilt the base");
    assert_eq!(again.id, base.id);

    // Auto falls back to offline here (no registry) and reuses the same image.
    let start = Instant::now();
    let auto = builder
        .ensure_base_image("3.11", BaseMode::Auto, &progress)
        .await
        .unwrap();
    eprintln!("TIMING base ensure (auto, warm): {:.1?}", start.elapsed());
    if !builder.registry_reachable("python:3.11-slim").await {
        assert!(!auto.built);
        assert_eq!(auto.id, base.id);
    }
}

#[tokio::test]
async fn unsupported_offline_python_versions_are_explained() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let e = builder
        .ensure_base_image("3.10", BaseMode::Offline, &progress)
        .await
        .unwrap_err();
    assert!(matches!(e, ImageError::NoDebianSuite { .. }), "{e}");
    assert!(e.to_string().contains("BaseMode::Registry"), "{e}");
    assert!(e.to_string().contains("base_image"), "{e}");
}

#[tokio::test]
async fn node_env_with_python_package_is_built_reused_and_rebuilt_on_change() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();

    let first = env(&unique_hash("six16"), &["six==1.16.0"], &[]);
    let start = Instant::now();
    let image = builder.ensure_node_image(&first, &progress).await.unwrap();
    eprintln!("TIMING env build (six==1.16.0): {:.1?}", start.elapsed());
    assert!(image.built);
    assert_eq!(image.tag, format!("{NAMESPACE}/env:{}", &first.hash[..16]));
    let info = builder.docker().inspect_image(&image.tag).await.unwrap();
    let image_labels = info.config.unwrap().labels.unwrap();
    assert_eq!(image_labels[labels::ENV_HASH], first.hash);
    assert_eq!(image_labels[labels::KIND], "env");
    assert_eq!(image_labels[labels::MANAGED_BY], "berth");

    let (code, out) = run_in(
        builder.docker(),
        &image.tag,
        "1000:1000",
        &[
            "python",
            "-c",
            "import six, iceoryx2, numpy; print(six.__version__)",
        ],
    )
    .await;
    assert_eq!((code, out.trim()), (0, "1.16.0"), "{out}");

    let start = Instant::now();
    let again = builder.ensure_node_image(&first, &progress).await.unwrap();
    eprintln!("TIMING env ensure (warm): {:.1?}", start.elapsed());
    assert!(!again.built, "same environment was rebuilt");
    assert_eq!(again.id, image.id);

    // A changed package list gives a new hash (computed by the caller) and a new image.
    let changed = env(&unique_hash("six15"), &["six==1.15.0"], &[]);
    let rebuilt = builder
        .ensure_node_image(&changed, &progress)
        .await
        .unwrap();
    assert!(rebuilt.built);
    assert_ne!(rebuilt.id, image.id);
    let (code, out) = run_in(
        builder.docker(),
        &rebuilt.tag,
        "1000:1000",
        &["python", "-c", "import six; print(six.__version__)"],
    )
    .await;
    assert_eq!((code, out.trim()), (0, "1.15.0"), "{out}");

    // The same hash with a different definition (here: a tag whose label does not match)
    // is rebuilt rather than trusted.
    builder
        .docker()
        .tag_image(
            &rebuilt.tag,
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::default()
                    .repo(&format!("{NAMESPACE}/env"))
                    .tag(&first.hash[..16])
                    .build(),
            ),
        )
        .await
        .unwrap();
    let healed = builder.ensure_node_image(&first, &progress).await.unwrap();
    assert!(healed.built, "an image with a foreign env hash was reused");
    let (_, out) = run_in(
        builder.docker(),
        &healed.tag,
        "1000:1000",
        &["python", "-c", "import six; print(six.__version__)"],
    )
    .await;
    assert_eq!(out.trim(), "1.16.0");

    remove_image(builder.docker(), &healed.tag).await;
    remove_image(builder.docker(), &rebuilt.tag).await;
}

#[tokio::test]
async fn node_env_system_dependency_is_installed_offline() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let with_jq = env(&unique_hash("jq"), &[], &["jq"]);
    let start = Instant::now();
    let image = builder
        .ensure_node_image(&with_jq, &progress)
        .await
        .unwrap();
    eprintln!(
        "TIMING env build (system dependency jq): {:.1?}",
        start.elapsed()
    );
    assert!(image.built);
    let (code, out) = run_in(
        builder.docker(),
        &image.tag,
        "1000:1000",
        &[
            "sh",
            "-c",
            "echo '{\"a\": 7}' | jq .a && python -c 'import iceoryx2'",
        ],
    )
    .await;
    assert_eq!((code, out.trim()), (0, "7"), "{out}");
    remove_image(builder.docker(), &image.tag).await;

    let bogus = env(&unique_hash("bogus"), &[], &["no-such-package-berth"]);
    let e = builder
        .ensure_node_image(&bogus, &progress)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("no-such-package-berth"), "{text}");
}

#[tokio::test]
async fn custom_bases_are_validated() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    let base = builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let rootfs = builder.rootfs_image_tag("bookworm");

    // The standard base is a valid custom base for 3.11 ...
    builder
        .validate_custom_base(&base.tag, "3.11")
        .await
        .unwrap();
    // ... but not for a manifest that says 3.13.
    let e = builder
        .validate_custom_base(&base.tag, "3.13")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("has Python 3.11, the manifest says 3.13"),
        "{e}"
    );

    // The bare root filesystem has Python but neither iceoryx2 nor numpy.
    let e = builder
        .validate_custom_base(&rootfs, "3.11")
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ImageError::CustomBaseMismatch { .. }), "{text}");
    assert!(text.contains(&format!("{rootfs} lacks iceoryx2")), "{text}");
    assert!(
        text.contains(&format!("RUN pip install iceoryx2=={ICEORYX2_VERSION}")),
        "{text}"
    );
    assert!(text.contains("RUN pip install numpy"), "{text}");

    // A node environment on that base is refused with the same message, before any build.
    let mut on_rootfs = env(&unique_hash("rootfs"), &["six==1.16.0"], &[]);
    on_rootfs.base_image = Some(rootfs.clone());
    let e = builder
        .ensure_node_image(&on_rootfs, &progress)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("lacks iceoryx2"), "{e}");

    // A custom base that is valid is used as is.
    let mut on_base = env(&unique_hash("custom"), &["six==1.16.0"], &[]);
    on_base.base_image = Some(base.tag.clone());
    let image = builder
        .ensure_node_image(&on_base, &progress)
        .await
        .unwrap();
    assert!(image.built);
    remove_image(builder.docker(), &image.tag).await;

    // Missing image: a clear error.
    let e = builder
        .validate_custom_base("berthtest-images/does-not-exist:1", "3.11")
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("not found locally") && text.contains("no registry"),
        "{text}"
    );

    assert_no_probe_containers(builder.docker(), &rootfs).await;
    assert_no_probe_containers(builder.docker(), &base.tag).await;
}

#[tokio::test]
async fn prune_removes_env_images_not_kept() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let gone = builder
        .ensure_node_image(&env(&unique_hash("gone"), &[], &[]), &progress)
        .await
        .unwrap();
    let kept_env = env(&unique_hash("kept"), &[], &[]);
    let kept = builder
        .ensure_node_image(&kept_env, &progress)
        .await
        .unwrap();
    assert_ne!(gone.tag, kept.tag);

    let removed = builder
        .prune(std::slice::from_ref(&kept_env.hash))
        .await
        .unwrap();
    assert!(removed.contains(&gone.tag), "{removed:?}");
    assert!(!removed.contains(&kept.tag), "{removed:?}");
    assert!(builder.docker().inspect_image(&gone.tag).await.is_err());
    assert!(builder.docker().inspect_image(&kept.tag).await.is_ok());
    // The base is not an env image and survives.
    assert!(
        builder
            .docker()
            .inspect_image(&builder.base_image_tag("3.11"))
            .await
            .is_ok()
    );

    let removed = builder.prune(&[]).await.unwrap();
    assert!(removed.contains(&kept.tag), "{removed:?}");
}

/// Builds a small custom base from the test base: no `apt-get`, and a non-root default user.
async fn build_custom_base(docker: &Docker, base: &str, tag: &str) {
    let dockerfile = format!("FROM {base}\nRUN rm /usr/bin/apt-get\nUSER 1000:1000\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    let mut context = tar::Builder::new(Vec::new());
    context
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    let context = context.into_inner().unwrap();
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    while let Some(item) = stream.next().await {
        item.expect("building the custom test base");
    }
}

#[tokio::test]
async fn custom_base_user_is_kept_and_failed_steps_are_reported() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    let base = builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let custom = format!("{NAMESPACE}/custom:{}", &unique_hash("custom")[..12]);
    build_custom_base(builder.docker(), &base.tag, &custom).await;

    // Packages install as root, and the base's user comes back afterwards.
    let mut with_six = env(&unique_hash("custom-six"), &["six==1.16.0"], &[]);
    with_six.base_image = Some(custom.clone());
    let image = builder
        .ensure_node_image(&with_six, &progress)
        .await
        .unwrap();
    let info = builder.docker().inspect_image(&image.tag).await.unwrap();
    assert_eq!(info.config.unwrap().user.as_deref(), Some("1000:1000"));
    let (code, out) = run_in(
        builder.docker(),
        &image.tag,
        "",
        &[
            "python",
            "-c",
            "import os, six; print(os.getuid(), six.__version__)",
        ],
    )
    .await;
    assert_eq!((code, out.trim()), (0, "1000 1.16.0"), "{out}");

    // A failing RUN surfaces as BuildFailed with the step and its log.
    let mut with_jq = env(&unique_hash("custom-jq"), &[], &["jq"]);
    with_jq.base_image = Some(custom.clone());
    let e = builder
        .ensure_node_image(&with_jq, &progress)
        .await
        .unwrap_err();
    let ImageError::BuildFailed {
        image: failed,
        step,
        log,
        ..
    } = &e
    else {
        panic!("expected BuildFailed, got {e}");
    };
    assert_eq!(*failed, builder.env_image_tag(&with_jq.hash));
    assert!(
        step.contains("RUN") && step.contains("apt-get install"),
        "{step}"
    );
    assert!(log.contains("apt-get: not found"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes left in the log: {log:?}"
    );
    eprintln!("BuildFailed as reported:\n{e}");
    assert!(e.to_string().contains("--- step log ---"), "{e}");

    remove_image(builder.docker(), &image.tag).await;
    remove_image(builder.docker(), &custom).await;
}

#[tokio::test]
async fn prune_unused_keeps_images_in_use_and_recently_used() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    let base = builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let in_use = builder
        .ensure_node_image(&env(&unique_hash("inuse"), &[], &[]), &progress)
        .await
        .unwrap();
    let idle = builder
        .ensure_node_image(&env(&unique_hash("idle"), &[], &[]), &progress)
        .await
        .unwrap();
    builder.record_use(&in_use.tag);
    let listed = builder.list().await.unwrap();
    let entry = listed.iter().find(|i| i.tag == in_use.tag).expect("listed");
    assert_eq!(entry.kind, "env");
    assert!(
        entry.last_used.is_some() && entry.env_hash.is_some(),
        "{entry:?}"
    );
    assert!(listed.iter().any(|i| i.tag == base.tag && i.kind == "base"));

    // Both were made just now: a week's threshold keeps them.
    let week = berth_images::PruneOptions {
        unused_for: std::time::Duration::from_secs(7 * 86_400),
        all: false,
    };
    let removed = builder.prune_unused(week).await.unwrap();
    assert!(
        !removed.contains(&in_use.tag) && !removed.contains(&idle.tag),
        "{removed:?}"
    );

    // A container (a running session's) holds `in_use`: even threshold zero keeps it.
    let container = builder
        .docker()
        .create_container(
            Some(CreateContainerOptionsBuilder::default().build()),
            ContainerCreateBody {
                image: Some(in_use.tag.clone()),
                cmd: Some(vec!["true".into()]),
                labels: Some(HashMap::from([
                    (
                        labels::MANAGED_BY.to_string(),
                        labels::MANAGED_BY_VALUE.to_string(),
                    ),
                    (labels::KIND.to_string(), "test".to_string()),
                ])),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let now = berth_images::PruneOptions {
        unused_for: std::time::Duration::ZERO,
        all: false,
    };
    let removed = builder.prune_unused(now).await;
    builder
        .docker()
        .remove_container(
            &container,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .unwrap();
    let removed = removed.unwrap();
    assert!(removed.contains(&idle.tag), "{removed:?}");
    assert!(!removed.contains(&in_use.tag), "{removed:?}");
    assert!(builder.docker().inspect_image(&in_use.tag).await.is_ok());
    assert!(
        builder.docker().inspect_image(&base.tag).await.is_ok(),
        "bases stay without --all"
    );

    // Once no container uses it, it goes too.
    let removed = builder.prune_unused(now).await.unwrap();
    assert!(removed.contains(&in_use.tag), "{removed:?}");
    assert!(
        builder.last_used(&in_use.tag).is_none(),
        "its use record goes with it"
    );
}

#[tokio::test]
async fn custom_bases_are_probed_as_nodes_run_with_their_shared_folders() {
    let Some(builder) = builder_or_skip().await else {
        return;
    };
    let _lock = DOCKER_LOCK.lock().await;
    let base = builder
        .ensure_base_image("3.11", BaseMode::Offline, &progress)
        .await
        .unwrap();
    let open = tempfile::tempdir().unwrap();
    let closed = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(closed.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let with = |binds: Vec<String>| {
        let mut config = builder.config().clone();
        config.run_as = berth_images::RunAs {
            user: Some("4242:4242".into()),
            writable_binds: binds,
        };
        ImageBuilder::with_config(builder.docker().clone(), config)
    };
    // A folder the node's user may write: accepted.
    with(vec![format!("{}:/shared", open.path().display())])
        .validate_custom_base(&base.tag, "3.11")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // One it may not (owned by another user, 0700): refused, naming user, folder and cause.
    let e = with(vec![format!("{}:/shared", closed.path().display())])
        .validate_custom_base(&base.tag, "3.11")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("user 4242:4242 cannot create files in /shared")
            && e.contains("PermissionError"),
        "{e}"
    );
    assert_no_probe_containers(builder.docker(), &base.tag).await;
}
