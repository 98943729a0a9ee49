//! The manifest format: the full example parses; each kind of mistake is reported with its
//! place, field path and fix.

use berth_manifest::{Executor, Manifest, ManifestError};

const EXAMPLE: &str = r#"version: "v1"
metadata: { name: "denoise-and-tag", description: "optional text" }
nodes:
  - id: tag
    node_type: KeywordTagger
    is_streaming: true
    params: { keywords: ["stop", "go"] }
    docker:
      python_version: "3.11"
      base_image: "acme/tagger:2"
      system_dependencies: ["libsndfile1"]
      python_packages: ["numpy==1.26.4", "iceoryx2"]
      resource_limits: { memory_mb: 1024, cpu_cores: 1.5 }
      env: { PYTHONUNBUFFERED: "1" }
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
  - id: clean
    node_type: Denoiser
    runtime_hint: "cpython"
    params: { strength: 0.3 }
  - id: gain
    node_type: Gain
    params: { gain: 0.5 }
connections:
  - { from: "mic", to: "clean" }
  - { from: "clean", to: "gain" }
  - { from: "gain", to: "tag" }
"#;

fn errors(text: &str) -> Vec<ManifestError> {
    Manifest::from_yaml_str(text, "pipeline.yaml")
        .expect_err("the manifest is invalid")
        .0
}

fn one(text: &str) -> ManifestError {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn the_full_example_parses() {
    let m = Manifest::from_yaml_str(EXAMPLE, "pipeline.yaml").unwrap();
    let executors: Vec<_> = m.nodes.iter().map(|n| n.executor()).collect();
    assert_eq!(
        executors,
        [Executor::Docker, Executor::Process, Executor::Native]
    );
    assert_eq!(m.pipeline_inputs(), ["mic"]);
    assert_eq!(m.pipeline_outputs(), ["tag"]);
    let order: Vec<_> = m
        .topological_order()
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(order, ["clean", "gain", "tag"]);
    assert_eq!(m.upstream_of("gain"), ["clean"]);
    let docker = m.nodes[0].docker.as_ref().unwrap();
    assert_eq!(
        docker.resource_limits.as_ref().unwrap().memory_mb,
        Some(1024)
    );
    assert!(docker.volumes[0].read_only);
    assert_eq!(m.nodes[0].params["keywords"][1], "go");
}

#[test]
fn unknown_fields_suggest_the_right_one() {
    let e = one(&EXAMPLE.replace("{ memory_mb: 1024", "{ memroy_mb: 1024"));
    assert_eq!(e.path, "nodes[0].docker.resource_limits.memroy_mb");
    assert_eq!((e.line, e.column), (Some(13), Some(26)));
    assert!(e.fix.contains("did you mean `memory_mb`"), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(
            "pipeline.yaml:13:26: nodes[0].docker.resource_limits.memroy_mb: unknown field"
        ),
        "{text}"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let e = one(&EXAMPLE.replace("memory_mb: 1024", "memory_mb: \"lots\""));
    assert_eq!(e.path, "nodes[0].docker.resource_limits.memory_mb");
    assert_eq!(e.line, Some(13));
    assert!(e.message.contains("invalid type"), "{e}");
}

#[test]
fn duplicate_ids_point_at_the_second() {
    let text = "version: v1\nmetadata: { name: x }\nnodes:\n  - id: a\n    node_type: Gain\n  - id: a\n    node_type: Gain\n";
    let e = one(text);
    assert!(
        e.message.contains("duplicate node id `a` (also nodes[0])"),
        "{e}"
    );
    assert_eq!(e.path, "nodes[1].id");
    assert_eq!((e.line, e.column), (Some(6), Some(9)));
}

#[test]
fn ids_unusable_in_channel_names_are_rejected() {
    let e = one(&EXAMPLE
        .replace("id: tag", "id: \"tag one\"")
        .replace("to: \"tag\"", "to: \"tag one\""));
    assert_eq!(e.path, "nodes[0].id");
    assert_eq!(e.line, Some(4));
    assert!(e.fix.contains("letters, digits"), "{e}");
}

#[test]
fn edges_to_nowhere_are_rejected() {
    let e = one(&EXAMPLE.replace("to: \"tag\"", "to: \"tga\""));
    assert_eq!(e.path, "connections[2].to");
    assert_eq!(e.line, Some(27));
    assert!(e.fix.contains("did you mean `tag`"), "{e}");
}

#[test]
fn cycles_are_rejected_with_their_path() {
    let text = EXAMPLE.replace(
        "  - { from: \"mic\", to: \"clean\" }\n",
        "  - { from: \"mic\", to: \"clean\" }\n  - { from: \"tag\", to: \"clean\" }\n",
    );
    let e = one(&text);
    assert!(
        e.message.contains("cycle: clean -> gain -> tag -> clean"),
        "{e}"
    );
    assert!(e.line.is_some());
}

#[test]
fn unsupported_python_versions_list_the_supported_ones() {
    let e = one(&EXAMPLE.replace("python_version: \"3.11\"", "python_version: \"2.7\""));
    assert_eq!(e.path, "nodes[0].docker.python_version");
    assert_eq!((e.line, e.column), (Some(9), Some(23)));
    assert!(
        e.fix
            .contains(&berth_manifest::python::python_version_list()),
        "{e}"
    );
}

#[test]
fn non_positive_limits_are_rejected() {
    let all = errors(&EXAMPLE.replace(
        "memory_mb: 1024, cpu_cores: 1.5",
        "memory_mb: 0, cpu_cores: -1",
    ));
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].path, "nodes[0].docker.resource_limits.memory_mb");
    assert_eq!((all[0].line, all[0].column), (Some(13), Some(37)));
    assert!(all[0].fix.contains("e.g. 512"));
    assert_eq!(all[1].path, "nodes[0].docker.resource_limits.cpu_cores");
}

#[test]
fn volumes_need_a_container_path() {
    let e = one(&EXAMPLE.replace(", container_path: \"/app/nodes\"", ""));
    assert_eq!(e.message, "missing field `container_path`");
    assert!(e.path.starts_with("nodes[0].docker.volumes[0]"), "{e}");
    assert_eq!(e.line, Some(16));
    let e = one(&EXAMPLE.replace("container_path: \"/app/nodes\"", "container_path: \"app\""));
    assert_eq!(e.path, "nodes[0].docker.volumes[0].container_path");
}

#[test]
fn bad_versions_empty_pipelines_and_bad_yaml_are_reported() {
    let e = one(&EXAMPLE.replace("version: \"v1\"", "version: \"v9\""));
    assert_eq!((e.path.as_str(), e.line), ("version", Some(1)));
    let e = one("version: v1\nmetadata: { name: x }\nnodes: []\n");
    assert!(e.message.contains("no nodes"), "{e}");
    let e = one("version: v1\nnodes: [\n  - id: a\n");
    assert!(e.message.starts_with("not valid YAML"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let e = one("just text");
    assert!(e.message.contains("mapping"), "{e}");
}

#[test]
fn native_types_are_checked_against_the_registry() {
    let m = Manifest::from_yaml_str(EXAMPLE, "p.yaml").unwrap();
    m.validate_native_types(&["Gain", "EnergyVad"]).unwrap();
    let err = m
        .validate_native_types(&["Gian", "EnergyVad"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nodes[2].node_type")
            && err.contains("did you mean `Gian`")
            && err.contains("registered: Gian, EnergyVad"),
        "{err}"
    );
}

#[test]
fn environment_hash_covers_the_image_and_only_the_image() {
    let m = Manifest::from_yaml_str(EXAMPLE, "p.yaml").unwrap();
    let docker = m.nodes[0].docker.clone().unwrap();
    let reordered = Manifest::from_yaml_str(
        &EXAMPLE.replace("[\"libsndfile1\"]", "[ \"libsndfile1\" ]"),
        "p.yaml",
    )
    .unwrap();
    assert_eq!(
        reordered.nodes[0]
            .docker
            .as_ref()
            .unwrap()
            .environment_hash(),
        docker.environment_hash()
    );
    let mut more = docker.clone();
    more.python_packages.push("six".into());
    assert_ne!(more.environment_hash(), docker.environment_hash());
    let mut other_env = docker.clone();
    other_env.env.insert("X".into(), "1".into());
    assert_eq!(other_env.environment_hash(), docker.environment_hash());
    assert_ne!(
        other_env.container_config_hash(),
        docker.container_config_hash()
    );
    assert_eq!(docker.environment_hash().len(), 64);
}

#[test]
fn the_json_schema_describes_nodes_strictly() {
    let schema = berth_manifest::json_schema().to_string();
    assert!(schema.contains("\"node_type\"") && schema.contains("\"resource_limits\""));
    assert!(schema.contains("\"additionalProperties\":false"));
}

#[test]
fn no_input_makes_the_parser_panic() {
    for end in 0..EXAMPLE.len() {
        if EXAMPLE.is_char_boundary(end) {
            let _ = Manifest::from_yaml_str(&EXAMPLE[..end], "p.yaml");
        }
    }
    for garbage in [
        "",
        "-",
        "{",
        "nodes: {",
        ":\n:",
        "\t",
        "version: [1, 2",
        "&a [*a]",
    ] {
        let _ = Manifest::from_yaml_str(garbage, "p.yaml");
    }
}

#[test]
fn docker_network_is_none_unless_named_and_checked() {
    let yaml = |network: &str| {
        format!(
            "version: v1\nmetadata: {{ name: net }}\nnodes:\n  - id: a\n    node_type: T\n    docker: {{ python_version: \"3.11\"{network} }}\nconnections:\n  - {{ from: mic, to: a }}\n"
        )
    };
    let docker = |m: &Manifest| m.nodes[0].docker.clone().unwrap();
    let plain = Manifest::from_yaml_str(&yaml(""), "p.yaml").unwrap();
    assert_eq!(docker(&plain).network, berth_manifest::DockerNetwork::None);
    let bridge = Manifest::from_yaml_str(&yaml(", network: bridge"), "p.yaml").unwrap();
    assert_eq!(
        docker(&bridge).network,
        berth_manifest::DockerNetwork::Bridge
    );
    // A run setting: the image is the same, the container is not.
    assert_eq!(
        docker(&plain).environment_hash(),
        docker(&bridge).environment_hash()
    );
    assert_ne!(
        docker(&plain).container_config_hash(),
        docker(&bridge).container_config_hash()
    );
    let err = Manifest::from_yaml_str(&yaml(", network: brige"), "p.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("network"), "{err}");
    assert!(err.contains("bridge"), "names what is accepted: {err}");
}
