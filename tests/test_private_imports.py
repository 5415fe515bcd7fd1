"""No module imports another package's private module: what packages share is public
(``store.new_id``, ``tools.render_table``, ``traces.shorten_name``). A package is a top-level
subpackage of ``jupyter_assistant`` (``traces``, ``orchestrator``, ``tools``, ``store``,
``server``, ...) with everything below it, or the root modules (``cli``, ...); within one,
private modules are its own business."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_assistant"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _owner(module: str) -> str:
    """The package a module belongs to: ``jupyter_assistant.<top>`` or the root."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (
        len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def _private_owner(target: str) -> str | None:
    """The package whose private module ``target`` reaches into, if any."""
    parts = target.split(".")
    if parts[0] != "jupyter_assistant":
        return None
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return _owner(".".join(parts[: i + 1]))
    return None


def test_no_module_imports_another_packages_private_module() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = _owner(_module_name(path))
        for line, target in _imports(path):
            owner = _private_owner(target)
            if owner is not None and owner != me:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_private_import() -> None:
    assert _private_owner("jupyter_assistant.store._util.new_id") == "jupyter_assistant.store"
    assert _private_owner("jupyter_assistant.store.new_id") is None
    assert _owner("jupyter_assistant.orchestrator.providers._base") == \
        "jupyter_assistant.orchestrator"
    assert _owner("jupyter_assistant._cli_traces") == "jupyter_assistant"
