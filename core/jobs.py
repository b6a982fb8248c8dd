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

import dataclasses
import datetime
import html
import importlib
import pkgutil
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from logitrank.errors import InvalidInputError
from logitrank.experiments._base import Claim, Experiment
from logitrank.io import atomic_write_json, atomic_write_text, read_json

__all__ = ["Claim", "Experiment", "PROFILES", "EXPERIMENT_PACKAGES",
           "ReportRun", "all_jobs", "run_jobs", "read_report", "merge_report",
           "write_results_md"]

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
    """Run (or resume) jobs, draw their figures, and rewrite the report and index page.

    The report and the index page cover every experiment: this profile's cached results where
    they exist, else the rows the existing report already had for it (so ``only`` updates just
    its experiments' rows); experiments in neither are named in the report.
    """
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
    # The report covers every job whose results exist for this profile (not only the rerun); a job
    # without cached results here keeps its rows from the report being replaced, so a partial run
    # (``--only``, a fresh clone) never rewrites the report with less than it had.
    runs: list[ReportRun] = []
    for job in jobs:
        rdir = _result_dir(results_root, job, profile, by_name)
        if (rdir / "DONE.json").exists():
            runs.append(ReportRun(job.name, job.title, float(read_json(rdir / "DONE.json")["seconds"]), str(rdir),
                                  tuple(job.figures().claims(rdir))))
    runs, kept, missing = merge_report(runs, read_report(results_md, list(by_name)), list(by_name))
    if kept:
        log(f"kept the rows of {', '.join(kept)} from {results_md} (no cached results under {results_root})")
    if missing:
        log(f"not in the report (no results yet): {', '.join(missing)}")
    write_results_md(results_md, runs, profile, figures_dir, kept=kept, missing=missing)
    _write_index(figures_dir, [by_name[r.name] for r in runs])
    claims = [c for r in runs for c in r.claims]
    log(f"wrote {results_md} ({len(claims)} claims) and {figures_dir / 'index.html'}")
    return claims


@dataclasses.dataclass(frozen=True)
class ReportRun:
    """One experiment's part of the report: its claims and the run that produced them."""

    name: str
    title: str
    seconds: float
    results: str
    claims: tuple[Claim, ...]


_UNESCAPED_BAR = re.compile(r"(?<!\\)\|")


def _cells(line: str) -> list[str]:
    """The cells of one Markdown table row (``\\|`` inside a cell is a literal bar)."""
    return [c.strip().replace("\\|", "|") for c in _UNESCAPED_BAR.split(line.strip())[1:-1]]


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _owner(figure: str, names) -> str | None:
    """The experiment a figure belongs to: its name, or the longest ``<name>_`` prefix (a companion figure)."""
    owners = [n for n in names if figure == n or figure.startswith(n + "_")]
    return max(owners, key=len) if owners else None


def read_report(path: Path, names) -> dict[str, ReportRun]:
    """The runs of a report written by :func:`write_results_md`, by experiment name (the records back).

    A claim row belongs to the experiment of its figure cell (its figure, a companion figure
    ``<name>_<part>``, or the bare name of an experiment whose claim has no figure); rows of
    experiments not in ``names`` or missing from the Runs table are dropped. No file: no runs.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    names = list(names)
    claims: dict[str, list[Claim]] = {}
    runs: dict[str, tuple[str, float, str]] = {}
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("| ") or line.startswith(("| claim |", "| figure |")):
            continue
        cells = _cells(line)
        if section == "Runs" and len(cells) >= 4:
            # A title once written with bare bars spans several cells: name | title… | seconds | results.
            title = "|".join(_UNESCAPED_BAR.split(line.strip())[2:-3]).strip().replace("\\|", "|")
            try:
                runs[cells[0]] = (title, float(cells[-2]), cells[-1].strip("`"))
            except ValueError:
                continue
        elif section is not None and section.startswith("Lens: ") and len(cells) == 6:
            m = re.fullmatch(r"\[([^\]]+)\]\([^)]*\)", cells[5])
            figure = m.group(1) if m else None
            owner = _owner(figure, names) if figure else (cells[5] if cells[5] in names else None)
            if owner is not None:
                claims.setdefault(owner, []).append(Claim(section[len("Lens: "):], *cells[:4],
                                                          verdict=cells[4].strip("*"), figure=figure))
    return {n: ReportRun(n, *runs[n], tuple(claims.get(n, ()))) for n in names if n in runs}


def merge_report(runs: list[ReportRun], previous: dict[str, ReportRun], order: list[str]):
    """This run's ``runs`` plus the previous report's runs of every other experiment.

    Returns ``(runs in report order, names kept from the previous report, names in neither)``.
    """
    have = {r.name: r for r in runs}
    kept = [n for n in order if n not in have and n in previous]
    merged = [have[n] if n in have else previous[n] for n in order if n in have or n in previous]
    return merged, kept, [n for n in order if n not in have and n not in previous]


def write_results_md(path: Path, runs: list[ReportRun], profile: str, figures_dir: Path, *,
                     kept=(), missing=()) -> None:
    """Render the claims (one row each, grouped by lens) and the runs as Markdown.

    ``kept`` names the experiments whose rows come from the previous report, ``missing`` those
    without any; the header says both.
    """
    path = Path(path)
    rel = Path(figures_dir).resolve().relative_to(path.parent.resolve()) \
        if Path(figures_dir).resolve().is_relative_to(path.parent.resolve()) else Path(figures_dir)
    profiles = sorted({Path(r.results).name.split("-", 1)[0] for r in runs} | {profile})
    which = (f"profile `{profile}`" if profiles == [profile]
             else "profiles " + ", ".join(f"`{p}`" for p in profiles) + " (per run: see Runs)")
    lines = [
        "# Results: the papers' claims against our runs",
        "",
        f"Written by `logitrank figures` ({which}) — every number below comes from "
        f"that run's saved results under `results/`. Do not edit by hand.",
        "",
        "Verdicts: **yes** reproduces, **partly** reproduces in kind or only in part, **no** does not "
        "reproduce (a result, reported with its numbers), **inconclusive** the run cannot decide (too small "
        "for the claim to hold, or its interval straddles the decision), **n/a** the paper has no comparable number.",
        "",
    ]
    if kept:
        lines += [f"Rows of {', '.join(kept)} are kept from the previous report: their results were not cached "
                  f"where this one was written.", ""]
    if missing:
        lines += [f"Not in this report (no results yet): {', '.join(missing)}; `logitrank figures --only NAME` "
                  f"computes one.", ""]
    for lens in ("logits", "weights", "representations"):
        rows = [(r, c) for r in runs for c in r.claims if c.lens == lens]
        if not rows:
            continue
        lines += [f"## Lens: {lens}", "", "| claim | paper | ours | setting | reproduces | figure |",
                  "|---|---|---|---|---|---|"]
        for r, c in rows:
            fig = f"[{c.figure}]({rel / (c.figure + '.png')})" if c.figure else r.name
            cells = [c.claim, c.paper, c.ours, c.setting, f"**{c.verdict}**", fig]
            lines.append("| " + " | ".join(_escape(s) for s in cells) + " |")
        lines.append("")
    lines += ["## Runs", "", "| figure | title | compute seconds | results |", "|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r.name} | {_escape(r.title)} | {r.seconds:.1f} | `{r.results}` |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _write_index(figures_dir: Path, jobs) -> None:
    cards = []
    for job in jobs:
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
