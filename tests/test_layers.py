"""The layers point one way: models <- components/common <- components/<stage> <- pipelines, cli.

Every import in the tree (module level or inside a function) is read with `ast`; a stage that
imports another stage, or a layer that imports one above it, fails here by file and line."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = sorted(p.name for p in (REPO / "components").iterdir()
                if p.is_dir() and p.name not in ("common", "__pycache__"))
TOP = ("components.cli", "components.stages")  # the CLI and the registry it reads


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, relative ones resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, f"{module}.{alias.name}" if not node.module else module) for alias in node.names]
    return found


def _layer(module: str) -> tuple[int, str | None]:
    """(rank, stage): models 0, common 1, a stage 2 (with its name), pipelines and the CLI 3."""
    parts = module.split(".")
    if parts[0] == "models":
        return 0, None
    if parts[0] == "pipelines" or module.startswith(TOP) or parts[-1] == "__main__":
        return 3, None  # `python -m components.<stage>` is an entry point, like the CLI
    if parts[0] == "components" and len(parts) > 1:
        return (1, None) if parts[1] == "common" else (2, parts[1])
    return -1, None  # third-party or standard library


def layer_violations() -> list[str]:
    problems = []
    for folder in ("models", "components", "pipelines"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rank, stage = _layer(_module_name(path))
            for line, target in _imports(path):
                target_rank, target_stage = _layer(target)
                where = f"{path.relative_to(REPO)}:{line} imports {target}"
                if target_rank > rank:
                    problems.append(f"{where} (a layer above it)")
                elif rank == target_rank == 2 and target_stage != stage:
                    problems.append(f"{where} (another stage)")
    return problems


def test_no_stage_imports_another_and_no_layer_imports_upward():
    assert layer_violations() == []


def test_the_checker_sees_violations(tmp_path, monkeypatch):
    """The rules catch a stage importing a stage and common importing a stage."""
    assert _layer("components.train.run") == (2, "train") and _layer("components.common.facs") == (1, None)
    fake = REPO / "components" / "bias" / "_layer_probe.py"
    fake.write_text("from components.train.run import run\nfrom ..evaluate import params\n")
    try:
        found = layer_violations()
    finally:
        fake.unlink()
    assert any("_layer_probe.py:1 imports components.train.run (another stage)" in p for p in found)
    assert any("_layer_probe.py:2 imports components.evaluate (another stage)" in p for p in found)


def test_stage_help_loads_no_torch():
    code = ("import sys\nfrom components.cli import main\n"
            "try:\n    main(['identity', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "False False", result.stdout[-2000:] + result.stderr[-2000:]


def test_every_stage_folder_has_the_same_shape():
    """params.py, run.py, component.py and __main__.py in every pipeline stage's folder."""
    from components.stages import STAGES

    for name, stage in STAGES.items():
        if not stage.in_pipeline:
            continue
        folder = REPO / "components" / name
        missing = [f for f in ("params.py", "run.py", "component.py", "__main__.py") if not (folder / f).is_file()]
        assert not missing, f"components/{name} lacks {missing}"


def test_the_tree_is_clean_under_the_linter():
    """ruff with the project's settings (pyproject.toml): unused names, undefined names, style."""
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


def test_no_function_is_longer_than_sixty_lines():
    """Long functions are cut into named phases (load, fit, resume, ...) so each reads at a glance."""
    too_long = []
    for folder in ("models", "components", "pipelines"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > 60:
                        too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    assert too_long == []
