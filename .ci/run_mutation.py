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

``FUNCTIONS`` narrows a module to some of its functions (the real-model modules: only the
functions that define the engine's centering and Gram, or the concept cosine tables, not
the plumbing around them). Those names are passed to ``mutmut run`` as mutant-name
patterns; mutmut still generates every mutant of the file, but runs only the selected
ones, and its final line then counts the rest as not checked ("?"). The script therefore
also prints its own line for the selection, in mutmut's format, from mutmut's per-mutant
result list.
"""

from __future__ import annotations

import json
import os
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
    "real_models/linear_reps.py": ["tests/test_independent_linear_reps.py", "tests/test_independent_concepts.py",
                                   "tests/test_linear_reps_tiny.py"],
    "real_models/engine.py": ["tests/test_independent_engine_gram.py", "tests/test_independent_engine.py",
                              "tests/test_engine.py", "tests/test_engine_resume.py"],
    "sim/experiments.py": ["tests/test_independent_experiments.py"],
}

# module → the functions (``Class.method`` or ``function``) whose mutants are run. Methods
# under a decorator (``@torch.no_grad()``, ``@property``) are never mutated by mutmut 3.
FUNCTIONS: dict[str, list[str]] = {
    # The definition of L's entries and of its Gram: the centered unembedding (ψ − ψ̄, in
    # __init__), the centered logits, the columns (explicit and top-k average), the full
    # rows, the Gram metric Ψ_cᵀΨ_c, a chunk's block and Gram factor, the Gram update, √eig.
    "real_models/engine.py": [
        "LogitGram.singular_values", "LogitMatrixEngine.__init__", "LogitMatrixEngine._center",
        "LogitMatrixEngine._values", "LogitMatrixEngine._full", "LogitMatrixEngine._full_metric",
        "LogitMatrixEngine._chunk_block", "LogitMatrixEngine._topk_average", "LogitMatrixEngine._stream",
        "LogitMatrixEngine._prefix_forward", "LogitMatrixEngine._future_forward",
        "LogitMatrixEngine._packed_forward",
    ],
    # The concept metrics: the cosine tables (Jiang et al.'s pairwise and Park et al.'s
    # direction cosines) and the causal inner product they are taken under (Park et al. eq. 3.3, 4.1).
    "real_models/linear_reps.py": [
        "concept_cosine_tables", "causal_whitening", "CausalGeometry.whiten", "CausalGeometry.steering_vector",
    ],
}


def mutant_patterns(module: str) -> list[str]:
    """mutmut's mutant-name patterns for the functions of ``FUNCTIONS[module]`` (all if absent)."""
    folder, name = module.split("/")
    dotted = f"{LAYOUT[folder]}/{name}".removesuffix(".py").replace("/", ".")
    out = []
    for fn in FUNCTIONS.get(module, []):
        mangled = "xǁ" + "ǁ".join(fn.split(".")) if "." in fn else "x_" + fn
        out.append(f"{dotted}.{mangled}__mutmut_*")
    return out


def selection_line(stdout: str) -> tuple[str, dict]:
    """A final line in mutmut's format for the mutants listed under "Mutant results"."""
    emojis = {"🎉": "killed", "🫥": "no_tests", "⏰": "timeout", "🤔": "suspicious", "🙁": "survived",
              "🔇": "skipped", "🧙": "caught_by_type_check", "💥": "segfault", "?": "not_checked"}
    _, _, listing = stdout.partition("Mutant results")
    counts = dict.fromkeys(emojis.values(), 0)
    names: dict[str, list[str]] = {}
    for row in listing.splitlines():
        parts = row.split()
        if len(parts) == 2 and parts[0] in emojis:
            counts[emojis[parts[0]]] += 1
            names.setdefault(emojis[parts[0]], []).append(parts[1])
    n = sum(counts.values())
    line = (f"{n}/{n}  🎉 {counts['killed']} 🫥 {counts['no_tests']}  ⏰ {counts['timeout']}  "
            f"🤔 {counts['suspicious']}  🙁 {counts['survived']}  🔇 {counts['skipped']}  "
            f"🧙 {counts['caught_by_type_check']}")
    return line, {"selected": counts, "selected_mutants": names}


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
        patterns = mutant_patterns(module)
        # One BLAS/OpenMP thread: mutmut forks a child per mutant, and torch's spinning thread
        # pool on the shared 2-core box made the tiny-Llama tests 10-50x slower (timeouts).
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1", *patterns], cwd=work,
                              capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        # mutmut redraws its progress line with \r; the last redraw is the final count.
        # (With selected functions, the per-mutant listing after "Mutant results" also has 🎉.)
        head = proc.stdout.partition("Mutant results")[0]
        last = [seg for seg in head.replace("\r", "\n").splitlines() if "🎉" in seg]
        subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, capture_output=True)
        stats_file = work / "mutants" / "mutmut-cicd-stats.json"
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        survivors = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work,
                                   capture_output=True, text=True).stdout
        print(f"== {module}  ({wall:.0f} s)  rc={proc.returncode}")
        print(last[-1].strip() if last else proc.stdout[-2000:] + proc.stderr[-2000:])
        print(json.dumps(stats))
        selection = {}
        if patterns:
            sel_line, selection = selection_line(proc.stdout)
            print(f"selected functions {FUNCTIONS[module]}:")
            print(sel_line)
            selection["selected_line"] = sel_line
        print(survivors)
        summary[module] = {"wall_s": round(wall, 1), "line": last[-1].strip() if last else None, **stats,
                           **selection, "survivors": survivors.split("\n")}
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
