"""Finds the `Node` subclass named by a spec's `node_type`.

Search order:
1. every `.py` module and package in each folder of `node_dirs` (modules whose source defines
   `class <node_type>` are imported first; the rest only if that finds nothing);
2. the module named by the spec's optional `module` key;
3. entry points in the group `berth.nodes` whose name is `node_type`;
4. the built-in nodes of `berth.nodes`.
"""

import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
import traceback
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

from .node import Node

ENTRY_POINT_GROUP = "berth.nodes"


class NodeNotFoundError(LookupError):
    """No `Node` subclass of the requested name was found; the message lists the search."""


def _node_classes(module: ModuleType) -> Dict[str, Type[Node]]:
    found: Dict[str, Type[Node]] = {}
    for name, value in vars(module).items():
        if inspect.isclass(value) and issubclass(value, Node) and value is not Node:
            found[name] = value
    return found


def _module_paths(folder: str) -> List[Tuple[str, str]]:
    """(module name, source file) for every top-level module and package in `folder`."""
    entries: List[Tuple[str, str]] = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.endswith(".py") and os.path.isfile(path) and entry != "__init__.py":
            name = entry[:-3]
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            name, path = entry, os.path.join(path, "__init__.py")
        else:
            continue
        if name.isidentifier():
            entries.append((name, path))
    return entries


def _defines_class(path: str, class_name: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            source = f.read()
    except OSError:
        return False
    return re.search(rf"^\s*class\s+{re.escape(class_name)}\b", source, re.M) is not None


def _same_file(module: ModuleType, path: str) -> bool:
    module_file = getattr(module, "__file__", None)
    return bool(module_file) and os.path.abspath(str(module_file)) == os.path.abspath(path)


def _import_from_folder(name: str, path: str, folder: str) -> ModuleType:
    """Import `path` as module `name` (its folder is on sys.path so sibling imports work)."""
    module = sys.modules.get(name)
    if module is None:
        module = importlib.import_module(name)
    if _same_file(module, path):
        return module
    # The name is taken by another module (e.g. a node file called `json.py`): load the file
    # under a private name instead.
    private = f"_berth_nodes_{abs(hash(folder)):x}_{name}"
    if private in sys.modules:
        return sys.modules[private]
    location = os.path.dirname(path) if path.endswith("__init__.py") else None
    spec = importlib.util.spec_from_file_location(
        private, path, submodule_search_locations=[location] if location else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[private]
        raise
    return module


def _entry_points() -> List[Any]:
    # Imported here, when no folder holds the node: it adds about 20 ms to every start.
    from importlib import metadata

    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=ENTRY_POINT_GROUP))
    return list(eps.get(ENTRY_POINT_GROUP, []))


_LOADING = threading.Lock()
"""One search at a time: a shared runner attaches instances on several threads, and a module
being imported from a node folder is in `sys.modules` before its classes exist."""


def find_node_class(
    node_type: str, node_dirs: Sequence[str] = (), module: Optional[str] = None
) -> Type[Node]:
    """The `Node` subclass called `node_type`; raises `NodeNotFoundError` listing the search."""
    with _LOADING:
        return _find_node_class(node_type, node_dirs, module)


def _find_node_class(node_type: str, node_dirs: Sequence[str], module: Optional[str]) -> Type[Node]:
    searched: List[str] = []
    found: Dict[str, str] = {}  # class name -> where
    errors: List[str] = []

    def consider(mod: ModuleType, where: str) -> Optional[Type[Node]]:
        classes = _node_classes(mod)
        for name in classes:
            found.setdefault(name, where)
        return classes.get(node_type)

    for folder in node_dirs:
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            searched.append(f"{folder} (missing)")
            continue
        searched.append(folder)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        modules = _module_paths(folder)
        likely = [m for m in modules if _defines_class(m[1], node_type)]
        rest = [m for m in modules if m not in likely]
        for batch in (likely, rest):
            for name, path in batch:
                try:
                    mod = _import_from_folder(name, path, folder)
                except Exception as exc:
                    errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    if batch is likely:
                        errors.append(traceback.format_exc())
                    continue
                cls = consider(mod, path)
                if cls is not None:
                    return cls

    if module:
        searched.append(f"module {module}")
        try:
            cls = consider(importlib.import_module(module), f"module {module}")
        except Exception as exc:
            errors.append(f"module {module}: {type(exc).__name__}: {exc}")
        else:
            if cls is not None:
                return cls

    searched.append(f"entry points [{ENTRY_POINT_GROUP}]")
    for ep in _entry_points():
        found.setdefault(ep.name, f"entry point {ep.value}")
        if ep.name != node_type:
            continue
        try:
            obj = ep.load()
        except Exception as exc:
            errors.append(f"entry point {ep.value}: {type(exc).__name__}: {exc}")
            continue
        if inspect.isclass(obj) and issubclass(obj, Node):
            return obj
        errors.append(f"entry point {ep.value} is not a berth.Node subclass")

    from .nodes import BUILTIN_NODES

    searched.append("built-ins berth.nodes")
    for name in BUILTIN_NODES:
        found.setdefault(name, "berth.nodes")
    if node_type in BUILTIN_NODES:
        return BUILTIN_NODES[node_type]

    lines = [f"node type {node_type!r} not found (a berth.Node subclass of that name)."]
    lines.append("searched: " + ("; ".join(searched) or "nothing"))
    listing = ", ".join(f"{name} ({where})" for name, where in sorted(found.items()))
    lines.append("node classes found: " + (listing or "none"))
    if errors:
        lines.append("import errors:\n" + "\n".join(errors))
    raise NodeNotFoundError("\n".join(lines))
