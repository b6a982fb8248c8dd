"""Contracts of the main job: figure modules only read results; the README lists every figure."""

import ast
import pkgutil
import re
from pathlib import Path

import logitrank.paper_figs as figs
from logitrank.jobs import all_jobs

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = ("__future__", "pathlib", "json", "math", "csv", "numpy", "matplotlib", "logitrank.jobs",
           "logitrank.io", "logitrank.paper_figs", "logitrank.sim.paper_numbers")


def test_figure_modules_never_recompute():
    """No figure module imports theory, simulation, real-model or torch code: they read saved results."""
    for mod in pkgutil.iter_modules(figs.__path__):
        tree = ast.parse((Path(figs.__path__[0]) / f"{mod.name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                ok = name.startswith(".") or any(name == a or name.startswith(a + ".") for a in ALLOWED)
                assert ok, f"paper_figs/{mod.name}.py imports {name}: figure modules only read results"


def test_every_job_has_a_figure_module_with_plot_and_claims():
    for job in all_jobs():
        mod = job.figures()
        assert callable(mod.plot) and callable(mod.claims), job.name


def test_readme_lists_exactly_the_figures_produced():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Figures", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.M))
    assert listed == {j.name for j in all_jobs()}
