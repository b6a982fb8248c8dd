"""Contracts of the main job: figure modules only read results; the README lists every figure."""

import ast
import dataclasses
import importlib
import pkgutil
import re
from pathlib import Path

import logitrank.paper_figs as figs
from logitrank.experiments import Experiment
from logitrank.jobs import all_jobs

ROOT = Path(__file__).resolve().parents[1]
#: Every figure module reads typed results now; none is legacy.
LEGACY_FIGURES: set[str] = set()
LEGACY_ALLOWED = ("__future__", "pathlib", "json", "math", "csv", "numpy", "matplotlib", "logitrank.jobs",
                  "logitrank.io", "logitrank.paper_figs", "logitrank.sim.paper_numbers")
#: A figure module imports only: result types (and the Experiment record naming it) from
#: logitrank.experiments.*, Claim, the shared style (and the shared LINGEN drawing, itself a reader of
#: RealLingenResult; and the shared claim texts, which import numpy alone), the papers' published
#: numbers, numpy/matplotlib.
ALLOWED = ("__future__", "pathlib", "math", "numpy", "matplotlib", "logitrank.experiments",
           "logitrank.paper_figs._style", "logitrank.paper_figs._lingen", "logitrank.paper_figs._claims",
           "logitrank.sim.paper_numbers")


def _figure_modules():
    return [m.name for m in pkgutil.iter_modules(figs.__path__) if not m.name.startswith("_")]


def _import_nodes(name):
    tree = ast.parse((Path(figs.__path__[0]) / f"{name}.py").read_text())
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_figure_modules_import_only_result_types():
    """A figure module imports result types from logitrank.experiments.* (no JSON/NPZ keys, no compute code)."""
    for node in _import_nodes("_claims"):                 # the shared claim texts format numbers, nothing else
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        assert set(mods) <= {"__future__", "numpy"}, f"paper_figs/_claims.py imports {mods}"
    for name in sorted(set(_figure_modules()) - LEGACY_FIGURES):
        for node in _import_nodes(name):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                assert any(mod == a or mod.startswith(a + ".") for a in ALLOWED), \
                    f"paper_figs/{name}.py imports {mod}: figure modules import only results"
            if isinstance(node, ast.ImportFrom) and node.module.startswith("logitrank.experiments"):
                source = importlib.import_module(node.module)
                for alias in node.names:
                    obj = getattr(source, alias.name)
                    ok = (obj is getattr(source, "Claim", None) and node.module == "logitrank.experiments") or \
                         isinstance(obj, Experiment) or isinstance(obj, (str, tuple)) or \
                         (dataclasses.is_dataclass(obj) and callable(getattr(obj, "load", None))
                          and obj is source.EXPERIMENT.result_type)
                    assert ok, f"paper_figs/{name}.py imports {node.module}.{alias.name}: not a result type"


def test_every_experiment_figure_reads_its_own_result_type():
    for job in all_jobs():
        if not isinstance(job, Experiment) or job.figure_module in LEGACY_FIGURES:
            continue
        mod = job.figures()
        assert mod.NAME == job.name
        imported = {(n.module, a.name) for n in _import_nodes(job.figure_module)
                    if isinstance(n, ast.ImportFrom) for a in n.names}
        assert (f"logitrank.experiments.{job.name}", job.result_type.__name__) in imported, job.name


def test_legacy_figure_modules_never_recompute():
    """No legacy figure module imports theory, simulation, real-model or torch code: they read saved results."""
    assert LEGACY_FIGURES <= set(_figure_modules())
    for mod_name in sorted(LEGACY_FIGURES):
        tree = ast.parse((Path(figs.__path__[0]) / f"{mod_name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                ok = name.startswith(".") or any(name == a or name.startswith(a + ".") for a in LEGACY_ALLOWED)
                assert ok, f"paper_figs/{mod_name}.py imports {name}: figure modules only read results"


def test_every_job_has_a_figure_module_with_plot_and_claims():
    for job in all_jobs():
        mod = job.figures()
        assert callable(mod.plot) and callable(mod.claims), job.name


def test_readme_lists_exactly_the_figures_produced():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Figures", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M))
    assert listed == {j.name for j in all_jobs()}
