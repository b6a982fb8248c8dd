"""The package imports as one namespace, logitrank.*; the import contract between its layers holds."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["theory", "sim", "real_models", "paper_figs", "experiments", "commands"]
#: Where each subpackage lives in the checkout (pyproject.toml's package-dir).
FOLDERS = {"theory": "theory", "sim": "sim", "real_models": "real_models", "paper_figs": "paper_figs",
           "experiments": "core/experiments", "commands": "core/commands"}


def test_subpackages_import_under_logitrank_namespace():
    import importlib
    for name in SUBPACKAGES:
        mod = importlib.import_module(f"logitrank.{name}")
        assert Path(mod.__file__).resolve().parent == ROOT / FOLDERS[name]


def test_pyproject_maps_every_subpackage():
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(cfg["packages"]) == {"logitrank"} | {f"logitrank.{n}" for n in SUBPACKAGES}
    assert cfg["package-dir"] == {"logitrank": "core", **{f"logitrank.{n}": FOLDERS[n] for n in SUBPACKAGES}}


# --- the import contract (static: every import statement, function-level ones included) -------------
#: The application layer: experiments, commands and the modules that run or assemble them.
APPLICATION = ("logitrank.experiments", "logitrank.commands", "logitrank.cli", "logitrank.jobs")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def _violations(folder: str, forbidden: tuple, skip: tuple = ()) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).glob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in skip:
            continue
        bad += [f"{rel} imports {n}" for n in sorted(_imports(path))
                if any(n == f or n.startswith(f + ".") for f in forbidden)]
    return bad


def test_theory_imports_neither_torch_nor_the_other_layers():
    assert _violations("theory", ("torch", "transformers", "logitrank.sim", "logitrank.real_models",
                                  "logitrank.paper_figs") + APPLICATION) == []


def test_sim_and_real_models_are_siblings_below_the_application_layer():
    """sim/ and real_models/ import neither each other nor the application layer (every file)."""
    assert _violations("sim", ("logitrank.real_models",) + APPLICATION) == []
    assert _violations("real_models", ("logitrank.sim",) + APPLICATION) == []


def test_experiments_never_import_the_command_line():
    assert _violations("core/experiments", ("logitrank.commands", "logitrank.cli", "logitrank.jobs", "typer")) == []


def test_theory_never_imports_torch():
    code = ("import sys, pkgutil, importlib, logitrank.theory as t\n"
            "for m in pkgutil.iter_modules(t.__path__): importlib.import_module('logitrank.theory.' + m.name)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"


def test_bare_folders_are_not_the_api():
    """Run from the checkout root: `logitrank.theory` must still resolve to the package."""
    out = subprocess.run([sys.executable, "-c", "import logitrank.theory.models as m; print(m.__name__)"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "logitrank.theory.models"


@pytest.mark.slow
def test_non_editable_wheel_contains_the_namespace(tmp_path):
    """`pip install .` (a built wheel) gives logitrank/{theory,sim,real_models,paper_figs,experiments,commands}."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True)
    wheel = next(tmp_path.glob("logitrank-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for sub in SUBPACKAGES:
        assert f"logitrank/{sub}/__init__.py" in names
    assert "logitrank/errors.py" in names and "logitrank/cli.py" in names
    assert not any(n.startswith(("theory/", "sim/")) for n in names)
