"""The runner contract: the specs this test host sends fit `spec.schema.json`, the schema the
Rust host's typed specs generate (a Rust test keeps the file equal to them), and a spec that
does not fit is refused with the field it gets wrong."""

import json
from typing import Any, Callable, Dict

import pytest
from hostsim import Host
from test_serve import serve_spec
from test_units import SPEC

from berth.schema import SchemaError, schema, validate
from berth.serve import ServeSpec
from berth.spec import NodeSpec, SpecError


def test_the_test_host_sends_specs_that_fit_the_contract(
    make_host: Callable[..., Host],
) -> None:
    host = make_host("n")
    validate(host.spec("Identity"), "runner", "node spec")
    everything: Dict[str, Any] = host.spec(
        "Identity",
        params={"gain": 0.5},
        module="my_nodes",
        coroutine_driver="loop",
        exit_linger_ms=10,
        timeout_ms=5,
        stats_interval_ms=100,
    )
    validate(everything, "runner", "node spec")
    validate(serve_spec(host), "serve", "serve spec")
    # Every field the test host uses is one the contract names (or a transport's string).
    named = set(schema("runner")["properties"])
    assert {k for k in everything if k not in named} == {
        "iceoryx2_prefix",
        "iceoryx2_root",
        "iceoryx2_doorbell",
    }


@pytest.mark.parametrize(
    "change, field",
    [
        ({"spin_us": "fast"}, "spin_us"),
        ({"max_frame_bytes": 0}, "max_frame_bytes"),
        ({"coroutine_driver": "threads"}, "coroutine_driver"),
        ({"inputs": ["ok", 7]}, "inputs.1"),
        ({"params": []}, "params"),
        ({"node_id": ""}, "node_id"),
        ({"spin_us": True}, "spin_us"),
        ({"speed": 3}, "speed"),
    ],
)
def test_a_spec_that_does_not_fit_is_refused_by_field(change: Dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=f"node spec field '{field}'"):
        NodeSpec.parse(json.dumps(dict(SPEC, **change)))


def test_the_validator_knows_every_keyword_the_schema_uses() -> None:
    from berth import schema as module

    used = set().union(*(module._keywords(module.schema(n)) for n in ("runner", "serve")))
    assert used <= module._KNOWN
    assert {"minLength", "minimum", "oneOf", "additionalProperties"} <= used


def test_the_transports_field_is_required_by_this_runner() -> None:
    without = {k: v for k, v in SPEC.items() if k != "iceoryx2_prefix"}
    validate(without, "runner", "node spec")  # the contract leaves transports open
    with pytest.raises(SpecError, match="iceoryx2_prefix"):
        NodeSpec.parse(json.dumps(without))


def test_a_serve_spec_that_does_not_fit_is_refused_by_field() -> None:
    with pytest.raises(SpecError, match="serve spec field 'commands'"):
        ServeSpec.parse(json.dumps({"pool_id": "p", "name": "n", "commands": 3, "control": "c"}))
    with pytest.raises(SchemaError, match="misses commands, control"):
        validate({"pool_id": "p", "name": "n"}, "serve", "serve spec")
