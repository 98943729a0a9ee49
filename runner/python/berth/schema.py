"""Checks a spec against the runner contract's JSON Schema (`spec.schema.json`).

The schema is generated from the host's typed specs (Rust `berth::runner_spec`) and committed
beside this module; a test on each side keeps them equal. This checks the subset of JSON
Schema those types produce (type, const, minimum, minLength, items, properties, required,
additionalProperties, anyOf/oneOf, local $ref), so the runner needs no third-party validator.
"""

import json
import os
from typing import Any, Dict, List, Optional, Set, Tuple

_SCHEMAS: Optional[Dict[str, Any]] = None

_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


class SchemaError(ValueError):
    """A spec does not fit the contract; the message names the field."""


def schema(name: str) -> Dict[str, Any]:
    """The committed schema `name` (`runner` or `serve`)."""
    global _SCHEMAS
    if _SCHEMAS is None:
        path = os.path.join(os.path.dirname(__file__), "spec.schema.json")
        with open(path, encoding="utf-8") as file:
            text = file.read()
        loaded: Dict[str, Any] = json.loads(text)
        unknown = set().union(*(_keywords(s) for s in loaded.values())) - _KNOWN
        if unknown:
            raise SchemaError(
                f"spec.schema.json uses {sorted(unknown)}, which this validator does not check"
            )
        _SCHEMAS = loaded
    found: Dict[str, Any] = _SCHEMAS[name]
    return found


#: The keywords `_check` understands, and those that only describe.
_KNOWN = {
    "type",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "$ref",
    "$defs",
    "$schema",
    "title",
    "description",
    "default",
    "format",
}


def _keywords(node: Any) -> Set[str]:
    """The keywords a schema object uses, and those of every schema nested in it."""
    found: Set[str] = set()
    if not isinstance(node, dict):
        return found
    for key, value in node.items():
        found.add(key)
        if key in ("properties", "$defs"):
            for nested in value.values():
                found |= _keywords(nested)
        elif key in ("items", "additionalProperties"):
            found |= _keywords(value)
        elif key in ("anyOf", "oneOf"):
            for nested in value:
                found |= _keywords(nested)
    return found


def validate(value: Any, name: str, what: str) -> None:
    """Raises `SchemaError` naming the first field of `value` that schema `name` refuses."""
    root = schema(name)
    problem = _check(value, root, root, [])
    if problem is not None:
        path, message = problem
        where = f"{what} field {'.'.join(path)!r}" if path else what
        raise SchemaError(f"{where} {message}")


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "null": value is None,
    }[kind]


def _describe(node: Dict[str, Any], root: Dict[str, Any]) -> str:
    if "$ref" in node:
        return _describe(_resolve(node["$ref"], root), root)
    if "const" in node:
        return repr(node["const"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(_describe(n, root) for n in node[key])
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    text = " or ".join(_TYPES[k] for k in kinds) or "anything"
    if "minimum" in node:
        text += f" >= {node['minimum']}"
    if "maximum" in node:
        text += f" <= {node['maximum']}"
    if node.get("minLength"):
        text = f"a non-empty string{' or null' if 'null' in kinds else ''}"
    return text


def _resolve(ref: str, root: Dict[str, Any]) -> Dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    result: Dict[str, Any] = node
    return result


def _check(
    value: Any, node: Dict[str, Any], root: Dict[str, Any], path: List[str]
) -> Optional[Tuple[List[str], str]]:
    if "$ref" in node:
        return _check(value, _resolve(node["$ref"], root), root, path)
    for key in ("anyOf", "oneOf"):
        if key in node:
            if any(_check(value, n, root, path) is None for n in node[key]):
                return None
            return path, f"must be {_describe(node, root)} (got {value!r})"
    kinds = node.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            return path, f"must be {_describe(node, root)} (got {value!r})"
    bad = f"must be {_describe(node, root)} (got {value!r})"
    if "const" in node and value != node["const"]:
        return path, bad
    if _is(value, "number") and "minimum" in node and value < node["minimum"]:
        return path, bad
    if _is(value, "number") and "maximum" in node and value > node["maximum"]:
        return path, bad
    if isinstance(value, str) and len(value) < node.get("minLength", 0):
        return path, bad
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            problem = _check(item, node["items"], root, path + [str(i)])
            if problem is not None:
                return problem
    if isinstance(value, dict):
        return _check_object(value, node, root, path)
    return None


def _check_object(
    value: Dict[str, Any], node: Dict[str, Any], root: Dict[str, Any], path: List[str]
) -> Optional[Tuple[List[str], str]]:
    missing = [k for k in node.get("required", []) if k not in value]
    if missing:
        return path, f"misses {', '.join(missing)}"
    properties = node.get("properties", {})
    extra = node.get("additionalProperties", True)
    for key, item in value.items():
        sub = properties.get(key)
        if sub is None:
            if extra is False:
                return path + [key], "is not part of the runner contract"
            if extra is True:
                continue
            if _check(item, extra, root, path + [key]) is not None:
                return path + [key], (
                    "is not a field of the runner contract (the transport's own fields are"
                    f" strings; got {item!r})"
                )
            continue
        problem = _check(item, sub, root, path + [key])
        if problem is not None:
            return problem
    return None
