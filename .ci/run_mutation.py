"""Mutation testing of the core definitions with mutmut 3 (``make mutation``).

mutmut names a mutant after its file path (``src/logitrank/theory/rmt.py`` →
``logitrank.theory.rmt.…``) and puts ``mutants/src`` first on ``sys.path``. Our
package maps folders onto one namespace (``core/`` → ``logitrank``, ``theory/`` →
``logitrank.theory`` …), so the checkout itself does not have that layout. This script
stages the installed layout under ``build/mutation/<module>/src/logitrank`` (plain copies),
with the tests, and runs mutmut there, one module at a time, with only the test files
that cover that module. The editable install's finder is appended to ``sys.meta_path``,
so the staged (mutated) copy on ``sys.path`` is the one the tests import.

Usage: ``python .ci/run_mutation.py [MODULE ...]`` (default: every module in ``SCOPE``).
Prints mutmut's own summary line per module and writes ``build/mutation/summary.json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutation"
LAYOUT = {"core": "logitrank", "theory": "logitrank/theory", "sim": "logitrank/sim",
          "real_models": "logitrank/real_models", "paper_figs": "logitrank/paper_figs"}

# module (path in the checkout) → the test files that pin its definitions. Only fast files:
# a surviving mutant runs every covering test, so one 17 s test costs minutes per module.
SCOPE: dict[str, list[str]] = {
    "theory/sequence_model.py": ["tests/test_independent_sequence_model.py", "tests/test_independent_theory.py"],
    "theory/logit_matrix.py": ["tests/test_independent_theory.py", "tests/test_independent_validation.py",
                               "tests/test_isan_rank.py"],
    "theory/spectrum.py": ["tests/test_independent_theory.py"],
    "theory/lingen.py": ["tests/test_independent_theory.py", "tests/test_lingen.py"],
    "theory/models.py": ["tests/test_independent_theory.py", "tests/test_independent_validation.py",
                         "tests/test_isan_rank.py"],
    "theory/representation.py": ["tests/test_independent_theory.py", "tests/test_representation.py"],
    "theory/concepts.py": ["tests/test_independent_concepts.py", "tests/test_concepts_model.py"],
    "theory/rmt.py": ["tests/test_independent_rmt.py", "tests/test_independent_rmt_fits.py",
                      "tests/test_rmt_statistics.py"],
    "real_models/linear_reps.py": ["tests/test_independent_concepts.py", "tests/test_linear_reps_tiny.py"],
    "real_models/engine.py": ["tests/test_independent_engine.py", "tests/test_engine.py"],
    "sim/experiments.py": ["tests/test_independent_experiments.py"],
}


def stage(module: str, tests: list[str]) -> Path:
    """Copy the package in its installed layout, plus the tests, into a fresh folder."""
    work = STAGE / module.replace("/", "_").removesuffix(".py")
    if work.exists():
        shutil.rmtree(work)
    for src, dst in LAYOUT.items():
        shutil.copytree(ROOT / src, work / "src" / dst, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    folder, name = module.split("/")
    target = f"src/{LAYOUT[folder]}/{name}"
    test_args = json.dumps(tests + ["-x", "-q", "-p", "no:cacheprovider"])
    (work / "pyproject.toml").write_text(f"""[tool.mutmut]
source_paths = ["src/"]
only_mutate = ["{target}"]
pytest_add_cli_args_test_selection = {test_args}
use_git_change_detection = false

[tool.pytest.ini_options]
addopts = "-m 'not slow'"
markers = ["slow: long", "realmodel: real model"]
filterwarnings = ["error"]
""")
    return work


def main(argv: list[str]) -> int:
    modules = argv or list(SCOPE)
    unknown = [m for m in modules if m not in SCOPE]
    if unknown:
        print(f"unknown module(s) {unknown}; choose from {list(SCOPE)}", file=sys.stderr)
        return 2
    summary_path = STAGE / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for module in modules:
        work = stage(module, SCOPE[module])
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1"], cwd=work,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        # mutmut redraws its progress line with \r; the last redraw is the final count.
        last = [seg for seg in proc.stdout.replace("\r", "\n").splitlines() if "🎉" in seg]
        subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, capture_output=True)
        stats_file = work / "mutants" / "mutmut-cicd-stats.json"
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        survivors = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work,
                                   capture_output=True, text=True).stdout
        print(f"== {module}  ({wall:.0f} s)  rc={proc.returncode}")
        print(last[-1].strip() if last else proc.stdout[-2000:] + proc.stderr[-2000:])
        print(json.dumps(stats))
        print(survivors)
        summary[module] = {"wall_s": round(wall, 1), "line": last[-1].strip() if last else None, **stats,
                           "survivors": survivors.split("\n")}
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
