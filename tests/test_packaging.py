"""The package imports as one namespace, logitrank.*, and theory/ never imports torch."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["theory", "sim", "real_models", "paper_figs"]


def test_subpackages_import_under_logitrank_namespace():
    import importlib
    for name in SUBPACKAGES:
        mod = importlib.import_module(f"logitrank.{name}")
        assert Path(mod.__file__).resolve().parent == ROOT / name


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
    """`pip install .` (a built wheel) gives logitrank/{theory,sim,real_models,paper_figs}."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True)
    wheel = next(tmp_path.glob("logitrank-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for sub in SUBPACKAGES:
        assert f"logitrank/{sub}/__init__.py" in names
    assert "logitrank/errors.py" in names and "logitrank/cli.py" in names
    assert not any(n.startswith(("theory/", "sim/")) for n in names)
