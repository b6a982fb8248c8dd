"""The registry and runner: compute results, draw figures, write the claims report.

An :class:`~logitrank.experiments.Experiment` (one module of :mod:`logitrank.experiments`,
found by :func:`all_jobs` with pkgutil) is one figure of the papers. Its result is saved
into a directory keyed by the hash of its configuration; its figure module in
``logitrank.paper_figs`` only *reads* that result to draw the figure and to state the
claims (paper's number vs ours) that go into ``docs/RESULTS.md``.

Resumability: a job's directory gets a ``DONE.json`` marker only after ``compute``
returns, so a killed run redoes at most the job it was in (and long jobs checkpoint
inside their directory, which ``compute`` may read back). A rerun with nothing changed
skips every finished compute.
"""

from __future__ import annotations

import datetime
import html
import importlib
import pkgutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from logitrank.errors import InvalidInputError
from logitrank.experiments._base import Claim, Experiment
from logitrank.io import atomic_write_json, atomic_write_text, read_json

__all__ = ["Claim", "Experiment", "PROFILES", "EXPERIMENT_PACKAGES",
           "all_jobs", "run_jobs", "write_results_md"]

PROFILES = ("quick", "full")

#: Packages whose modules each define ``EXPERIMENT`` (discovered with pkgutil; order by ``order``).
EXPERIMENT_PACKAGES = ("logitrank.experiments",)


def _discover(package: str) -> list[Experiment]:
    """``EXPERIMENT`` of every public module of ``package`` (pkgutil; private modules skipped)."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        exp = getattr(mod, "EXPERIMENT", None)
        if not isinstance(exp, Experiment):
            raise InvalidInputError(f"{package}.{info.name} defines no EXPERIMENT = Experiment(...)")
        if exp.name != info.name:
            raise InvalidInputError(f"experiment {exp.name!r} must live in a module of that name, "
                                    f"not {package}.{info.name}")
        found.append(exp)
    return found


def all_jobs() -> list[Experiment]:
    """Every registered experiment (discovered), in report order."""
    jobs: list = []
    for package in EXPERIMENT_PACKAGES:
        jobs.extend(_discover(package))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"duplicate job names in {names}")
    orders = [j.order for j in jobs]
    if len(set(orders)) != len(orders):
        raise InvalidInputError(f"duplicate report order keys in {sorted(zip(orders, names))}")
    return sorted(jobs, key=lambda j: j.order)


def _result_dir(results_root: Path, job: Experiment, profile: str, by_name: dict | None = None) -> Path:
    input_keys = {}
    for name in job.inputs:
        if not by_name or name not in by_name:
            raise InvalidInputError(f"job {job.name!r} reads job {name!r}, which is not registered")
        input_keys[name] = _result_dir(results_root, by_name[name], profile, by_name).name
    return Path(results_root) / job.name / f"{profile}-{job.key(profile, input_keys)}"


def _with_inputs(selected: list, by_name: dict) -> list:
    """``selected`` plus the jobs they read, each after its inputs (report order otherwise)."""
    order: list = []

    def visit(job, stack: tuple = ()):
        if job.name in stack:
            raise InvalidInputError(f"job inputs form a cycle: {' -> '.join(stack + (job.name,))}")
        for name in job.inputs:
            visit(by_name[name], stack + (job.name,))
        if job not in order:
            order.append(job)
    for job in selected:
        visit(job)
    return order


def run_jobs(*, profile: str = "quick", only: list[str] | None = None,
             results_root: Path = Path("results"), figures_dir: Path = Path("docs/figures"),
             results_md: Path = Path("docs/RESULTS.md"), force: bool = False,
             log: Callable[[str], Any] = print) -> list[Claim]:
    """Run (or resume) jobs, draw their figures, and rewrite the report and index page."""
    if profile not in PROFILES:
        raise InvalidInputError(f"profile must be one of {PROFILES}, got {profile!r}")
    jobs = all_jobs()
    known = {j.name for j in jobs}
    if only:
        unknown = sorted(set(only) - known)
        if unknown:
            raise InvalidInputError(f"unknown figure(s) {unknown}; choose from {sorted(known)}")
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    by_name = {j.name: j for j in jobs}
    selected = _with_inputs([j for j in jobs if not only or j.name in only], by_name)
    for i, job in enumerate(selected, 1):
        rdir = _result_dir(results_root, job, profile, by_name)
        done = rdir / "DONE.json"
        if done.exists() and not force:
            log(f"[{i}/{len(selected)}] {job.name}: cached results in {rdir}")
        else:
            log(f"[{i}/{len(selected)}] {job.name}: computing ({job.title}) …")
            rdir.mkdir(parents=True, exist_ok=True)
            if force and done.exists():
                done.unlink()
            t0 = time.perf_counter()
            atomic_write_json(rdir / "config.json", job.config_record(profile))
            job.run(profile, rdir, {n: _result_dir(results_root, by_name[n], profile, by_name)
                                    for n in job.inputs})
            atomic_write_json(done, {"seconds": time.perf_counter() - t0, "profile": profile,
                                     "finished": datetime.datetime.now(datetime.timezone.utc).isoformat()})
            log(f"    done in {time.perf_counter() - t0:.1f} s")
        for path in job.figures().plot(rdir, figures_dir):
            log(f"    wrote {path}")
    # The report covers every job whose results exist for this profile (not only the rerun).
    claims: list[Claim] = []
    finished = []
    for job in jobs:
        rdir = _result_dir(results_root, job, profile, by_name)
        if (rdir / "DONE.json").exists():
            finished.append((job, rdir))
            claims.extend(job.figures().claims(rdir))
    write_results_md(results_md, claims, finished, profile, figures_dir)
    _write_index(figures_dir, finished)
    log(f"wrote {results_md} ({len(claims)} claims) and {figures_dir / 'index.html'}")
    return claims


def write_results_md(path: Path, claims: list[Claim], finished, profile: str, figures_dir: Path) -> None:
    """Render the claims table (one row per claim) as Markdown."""
    path = Path(path)
    rel = Path(figures_dir).resolve().relative_to(path.parent.resolve()) \
        if Path(figures_dir).resolve().is_relative_to(path.parent.resolve()) else Path(figures_dir)
    lines = [
        "# Results: the papers' claims against our runs",
        "",
        f"Written by `logitrank figures` (profile `{profile}`) — every number below comes from "
        f"that run's saved results under `results/`. Do not edit by hand.",
        "",
        "Verdicts: **yes** reproduces, **partly** reproduces in kind or only in part, **no** does not "
        "reproduce (a result, reported with its numbers), **inconclusive** the run cannot decide (too small "
        "for the claim to hold, or its interval straddles the decision), **n/a** the paper has no comparable number.",
        "",
    ]
    for lens in ("logits", "weights", "representations"):
        rows = [c for c in claims if c.lens == lens]
        if not rows:
            continue
        lines += [f"## Lens: {lens}", "", "| claim | paper | ours | setting | reproduces | figure |",
                  "|---|---|---|---|---|---|"]
        for c in rows:
            fig = f"[{c.figure}]({rel / (c.figure + '.png')})" if c.figure else ""
            cells = [c.claim, c.paper, c.ours, c.setting, f"**{c.verdict}**", fig]
            lines.append("| " + " | ".join(s.replace("|", "\\|").replace("\n", " ") for s in cells) + " |")
        lines.append("")
    lines += ["## Runs", "", "| figure | title | compute seconds | results |", "|---|---|---|---|"]
    for job, rdir in finished:
        meta = read_json(rdir / "DONE.json")
        lines.append(f"| {job.name} | {job.title} | {meta['seconds']:.1f} | `{rdir}` |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _write_index(figures_dir: Path, finished) -> None:
    cards = []
    for job, _ in finished:
        # A job may write companion figures named <job>_<part>.png next to <job>.png.
        pngs = sorted(p.name for p in Path(figures_dir).glob(f"{job.name}*.png")
                      if p.stem == job.name or p.stem.startswith(job.name + "_"))
        imgs = "".join(f"<p><a href='{Path(n).stem}.pdf'>{html.escape(Path(n).stem)} (PDF)</a></p>"
                       f"<img src='{n}' alt='{html.escape(Path(n).stem)}'>" for n in pngs)
        cards.append(f"<section><h2>{html.escape(job.title)}</h2><p><code>{job.name}</code> · lens "
                     f"{html.escape(job.lens)}</p>{imgs}</section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>logitrank figures</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
            "section{border-bottom:1px solid #ccc;padding:1em 0}</style></head><body>"
            "<h1>logitrank — all figures</h1><p>Claims and numbers: <a href='../RESULTS.md'>RESULTS.md</a></p>"
            + "".join(cards) + "</body></html>\n")
    atomic_write_text(Path(figures_dir) / "index.html", page)
