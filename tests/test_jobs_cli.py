"""The main-job runner (cached, resumable) and the CLI (--help everywhere, clean errors)."""

import dataclasses
import sys
import types

import pytest
from typer.testing import CliRunner

import logitrank.jobs as jobs
from logitrank.cli import app
from logitrank.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class _Cfg:
    x: int = 1


@dataclasses.dataclass(frozen=True)
class _Res:
    x: int

    def save(self, out_dir):
        from logitrank.io import atomic_write_json
        atomic_write_json(out_dir / "r.json", {"x": self.x})

    @classmethod
    def load(cls, d):
        from logitrank.io import read_json
        return cls(**read_json(d / "r.json"))


def _fake_figures(monkeypatch, name, claims):
    fig = types.ModuleType(f"logitrank.paper_figs.{name}")
    fig.plot = lambda rdir, fdir: []
    fig.claims = claims
    monkeypatch.setitem(sys.modules, f"logitrank.paper_figs.{name}", fig)


def _fake_provider(monkeypatch, calls, fail_on=None):
    def compute(name):
        def run(cfg, out):
            calls.append(name)
            if name == fail_on:
                raise KeyboardInterrupt("simulated kill")
            return _Res(cfg.x)
        return run

    _fake_figures(monkeypatch, "_fake",
                  lambda rdir: [jobs.Claim("logits", f"claim {rdir.parent.name}", "1", "1", "s", "yes")])
    exps = [jobs.Experiment(n, "logits", n, i, {"quick": _Cfg(), "full": _Cfg()}, compute(n), _Res, "_fake")
            for i, n in enumerate(("a", "b", "c"))]
    monkeypatch.setattr(jobs, "all_jobs", lambda: exps)


def test_killed_run_resumes_without_redoing_finished_jobs(tmp_path, monkeypatch):
    calls = []
    _fake_provider(monkeypatch, calls, fail_on="b")
    kw = dict(results_root=tmp_path / "res", figures_dir=tmp_path / "fig", results_md=tmp_path / "R.md",
              log=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        jobs.run_jobs(**kw)
    assert calls == ["a", "b"]
    calls.clear()
    _fake_provider(monkeypatch, calls)
    claims = jobs.run_jobs(**kw)
    assert calls == ["b", "c"]                       # a was finished and is not redone
    assert len(claims) == 3 and "claim a" in (tmp_path / "R.md").read_text()
    calls.clear()
    jobs.run_jobs(only=["c"], **kw)
    assert calls == []                                # cached
    with pytest.raises(InvalidInputError, match="unknown figure"):
        jobs.run_jobs(only=["zzz"], **kw)


def _command_paths(cmd, prefix=()):
    yield prefix
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _command_paths(sub, prefix + (name,))


def test_every_command_has_help():
    """Every command and sub-command (lens sub-apps included) answers --help with a docstring."""
    import typer
    runner = CliRunner()
    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("figures",) in paths and ("rank",) in paths
    for path in paths:
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0, path
        assert "Usage" in res.output


def test_rank_command_runs():
    res = CliRunner().invoke(app, ["rank", "--vocab", "2", "--horizon", "3", "--dim", "1"])
    assert res.exit_code == 0 and "(d = 1)" in res.output


def test_job_inputs_run_first_and_enter_the_key(tmp_path, monkeypatch):
    seen = {}
    value = {"v": 1}

    def producer(cfg, out):
        return _Res(value["v"])

    def consumer(cfg, out, inputs):
        seen["v"] = _Res.load(inputs["p"]).x
        return _Res(0)

    _fake_figures(monkeypatch, "_fake2", lambda rdir: [])

    def exps():            # re-read: the producer's config follows ``value``
        return [jobs.Experiment("c", "logits", "c", 1, {"quick": _Cfg(), "full": _Cfg()}, consumer, _Res,
                                "_fake2", inputs=("p",)),
                jobs.Experiment("p", "logits", "p", 0, {"quick": _Cfg(value["v"]), "full": _Cfg()}, producer,
                                _Res, "_fake2")]
    monkeypatch.setattr(jobs, "all_jobs", exps)
    kw = dict(results_root=tmp_path / "r", figures_dir=tmp_path / "f", results_md=tmp_path / "R.md",
              log=lambda s: None)
    jobs.run_jobs(only=["c"], **kw)
    assert seen == {"v": 1}
    value["v"] = 2                                   # the input's config changes …
    jobs.run_jobs(only=["c"], **kw)
    assert seen == {"v": 2}                          # … so the consumer is recomputed


# --- experiments: discovered modules, typed results, stable keys ---------------------------------
_FAKE_EXPERIMENT = '''
import dataclasses
from pathlib import Path
from logitrank.experiments import Experiment
from logitrank.io import atomic_write_json, read_json

CALLS = []


@dataclasses.dataclass(frozen=True)
class Cfg:
    x: int = {x}
    sizes: tuple[int, ...] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Res:
    total: int

    def save(self, out_dir):
        atomic_write_json(Path(out_dir) / "res.json", {{"total": self.total}})

    @classmethod
    def load(cls, d):
        return cls(**read_json(Path(d) / "res.json"))


def compute(config, out_dir, inputs=None):
    CALLS.append("{name}")
    extra = Res.load(inputs["{inp}"]).total if inputs else 0
    return Res(config.x + sum(config.sizes) + extra)


EXPERIMENT = Experiment(name="{name}", lens="logits", title="{name}", order={order},
                        profiles={{"quick": Cfg(), "full": Cfg(x=100)}}, compute=compute, result_type=Res,
                        figure_module="_fake3", inputs={inputs})
'''


def _fake_experiment_package(tmp_path, monkeypatch, xs=(1, 2)):
    import importlib

    from logitrank.io import read_json
    monkeypatch.setattr(sys, "dont_write_bytecode", True)   # rewritten sources must not hit stale .pyc
    pkg = tmp_path / "fake_experiments_pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "_private.py").write_text("raise RuntimeError('private modules are not experiments')\n")
    # Discovery order (alphabetical) differs from report order (order keys): zeta runs first.
    (pkg / "alpha.py").write_text(_FAKE_EXPERIMENT.format(name="alpha", x=xs[0], order=20, inputs="('zeta',)",
                                                          inp="zeta"))
    (pkg / "zeta.py").write_text(_FAKE_EXPERIMENT.format(name="zeta", x=xs[1], order=10, inputs="()", inp=""))
    for name in [m for m in sys.modules if m.startswith("fake_experiments_pkg")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    fig = types.ModuleType("logitrank.paper_figs._fake3")
    fig.plot = lambda rdir, fdir: []
    fig.claims = lambda rdir: [jobs.Claim("logits", f"{rdir.parent.name} total {read_json(rdir / 'res.json')['total']}",
                                          "1", "1", "s", "yes")]
    monkeypatch.setitem(sys.modules, "logitrank.paper_figs._fake3", fig)
    monkeypatch.setattr(jobs, "EXPERIMENT_PACKAGES", ("fake_experiments_pkg",))


def test_experiments_are_discovered_and_ordered_by_their_order_key(tmp_path, monkeypatch):
    _fake_experiment_package(tmp_path, monkeypatch)
    assert [e.name for e in jobs.all_jobs()] == ["zeta", "alpha"]


def test_experiment_key_is_the_hash_of_the_config_record(tmp_path, monkeypatch):
    """The cache key is sha256 of the sorted-key JSON of {job, version, asdict(config), inputs}, first 12 hex."""
    import hashlib
    import json
    _fake_experiment_package(tmp_path, monkeypatch)
    zeta = {e.name: e for e in jobs.all_jobs()}["zeta"]
    blob = json.dumps({"job": "zeta", "version": 1, "config": {"x": 2, "sizes": [1, 2]}, "inputs": {}},
                      sort_keys=True, separators=(",", ":"))
    assert zeta.key("quick") == hashlib.sha256(blob.encode()).hexdigest()[:12]
    assert zeta.key("full") != zeta.key("quick")
    with pytest.raises(InvalidInputError, match="no profile"):
        zeta.key("medium")


def test_experiments_run_with_inputs_cache_and_report(tmp_path, monkeypatch):
    _fake_experiment_package(tmp_path, monkeypatch)
    import fake_experiments_pkg.alpha as alpha
    import fake_experiments_pkg.zeta as zeta
    kw = dict(results_root=tmp_path / "r", figures_dir=tmp_path / "f", results_md=tmp_path / "R.md",
              log=lambda s: None)
    claims = jobs.run_jobs(only=["alpha"], **kw)
    assert zeta.CALLS == ["zeta"] and alpha.CALLS == ["alpha"]
    # alpha = 1 + (1 + 2) + zeta's total (2 + 1 + 2): the input's saved result was read back.
    assert [c.claim for c in claims] == ["zeta total 5", "alpha total 9"]
    rdir = next((tmp_path / "r" / "alpha").iterdir())
    assert (rdir / "DONE.json").exists()
    assert jobs.read_json(rdir / "config.json") == {"x": 1, "sizes": [1, 2]}
    jobs.run_jobs(**kw)
    assert zeta.CALLS == ["zeta"] and alpha.CALLS == ["alpha"]          # both cached
    _fake_experiment_package(tmp_path, monkeypatch, xs=(1, 3))          # the input's config changes …
    import fake_experiments_pkg.alpha as alpha2
    claims = jobs.run_jobs(only=["alpha"], **kw)
    assert alpha2.CALLS == ["alpha"]                                     # … so alpha is recomputed
    assert "alpha total 10" in [c.claim for c in claims]


def test_a_module_without_experiment_is_an_error(tmp_path, monkeypatch):
    _fake_experiment_package(tmp_path, monkeypatch)
    (tmp_path / "fake_experiments_pkg" / "broken.py").write_text("X = 1\n")
    import importlib
    importlib.invalidate_caches()
    with pytest.raises(InvalidInputError, match="defines no EXPERIMENT"):
        jobs.all_jobs()


def test_config_from_dict_restores_tuples():
    import dataclasses

    from logitrank.experiments import config_from_dict, config_record

    @dataclasses.dataclass(frozen=True)
    class C:
        a: tuple[int, ...] = (1, 2)
        b: tuple[int | None, ...] = (None, 3)
        c: list = dataclasses.field(default_factory=list)
        d: float = 0.5

    rec = {"a": [4], "b": [None], "c": [1], "d": 2.0}
    assert config_from_dict(C, rec) == C(a=(4,), b=(None,), c=[1], d=2.0)
    assert config_record(C()) == {"a": (1, 2), "b": (None, 3), "c": [], "d": 0.5}
    with pytest.raises(InvalidInputError):
        config_record(C)


# --- the report: a partial run never rewrites it with less than it had -------------------------
def _report_provider(monkeypatch, calls, value=1):
    """Three experiments; b has two claims in two lenses, one with a companion figure, c's has none."""
    def compute(name):
        def run(cfg, out):
            calls.append(name)
            return _Res(value)
        return run

    def claims(rdir):
        name, x = rdir.parent.name, _Res.load(rdir).x
        rows = [jobs.Claim("logits", f"claim {name} | with a bar", "p", f"x = {x}", "s", "yes",
                           figure=None if name == "c" else name)]
        if name == "b":
            rows.append(jobs.Claim("weights", "claim b2", "p", f"x = {x}", "s", "partly", figure="b_part"))
        return rows

    _fake_figures(monkeypatch, "_fake_report", claims)
    exps = [jobs.Experiment(n, "logits", f"title {n} |H|", i, {"quick": _Cfg(), "full": _Cfg()}, compute(n), _Res,
                            "_fake_report") for i, n in enumerate(("a", "b", "c"))]
    monkeypatch.setattr(jobs, "all_jobs", lambda: exps)


def test_figures_only_keeps_every_other_experiments_rows(tmp_path, monkeypatch):
    """A full run, then `--only c` with no cached results (a fresh clone): a's and b's rows and index cards
    stay, only c's change; a full run afterwards writes exactly what a full run writes."""
    calls = []
    _report_provider(monkeypatch, calls)
    kw = dict(figures_dir=tmp_path / "fig", results_md=tmp_path / "R.md", log=lambda s: None)
    jobs.run_jobs(results_root=tmp_path / "res", **kw)
    full = (tmp_path / "R.md").read_text()
    full_index = (tmp_path / "fig" / "index.html").read_text()
    assert full.count("| claim ") == 4 + 2 and "title a \\|H\\|" in full                 # 4 rows, 2 lens headers
    _report_provider(monkeypatch, calls, value=7)                      # c's number changes …
    claims = jobs.run_jobs(results_root=tmp_path / "fresh", only=["c"], **kw)
    partial = (tmp_path / "R.md").read_text()
    assert [c.claim for c in claims] == ["claim a | with a bar", "claim b | with a bar", "claim b2",
                                         "claim c | with a bar"]
    changed = sorted(set(partial.splitlines()) ^ set(full.splitlines()))
    # … so only c's claim row, c's run row and the note on the kept rows differ.
    assert [ln for ln in changed if "| c |" not in ln and "claim c" not in ln] == [
        "Rows of a, b are kept from the previous report: their results were not cached where this one was written."]
    assert "x = 7 | s | **yes** | c |" in partial and "x = 1 | s | **yes** | [a](fig/a.png) |" in partial
    assert (tmp_path / "fig" / "index.html").read_text() == full_index
    _report_provider(monkeypatch, calls)
    jobs.run_jobs(results_root=tmp_path / "res", **kw)
    assert (tmp_path / "R.md").read_text() == full


def test_a_report_without_results_says_which_are_missing(tmp_path, monkeypatch):
    _report_provider(monkeypatch, [])
    lines = []
    jobs.run_jobs(results_root=tmp_path / "res", figures_dir=tmp_path / "fig", results_md=tmp_path / "R.md",
                  only=["b"], log=lines.append)
    text = (tmp_path / "R.md").read_text()
    assert "Not in this report (no results yet): a, c;" in text
    assert "not in the report (no results yet): a, c" in lines
    assert "claim a" not in text and "claim b2" in text


def test_the_committed_report_reads_back_row_for_row(tmp_path):
    """docs/RESULTS.md parsed into records and rendered again gives the same claim rows, in order."""
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md"
    names = [j.name for j in jobs.all_jobs()]
    runs = jobs.read_report(path, names)
    rows = [ln for ln in path.read_text().splitlines() if ln.startswith("| ") and "](" in ln]
    assert sum(len(r.claims) for r in runs.values()) == len(rows) > 50
    assert set(runs) <= set(names) and len(runs) >= 10
    titles = {j.name: j.title for j in jobs.all_jobs()}
    assert sum(r.title == titles[n] for n, r in runs.items()) >= len(runs) - 2         # bars in titles included
    assert "|H|" in runs["real_lingen"].title and runs["real_lingen"].title == titles["real_lingen"]
    out = tmp_path / "R.md"
    jobs.write_results_md(out, [runs[n] for n in names if n in runs], "quick", tmp_path / "figures")
    again = [ln for ln in out.read_text().splitlines() if ln.startswith("| ") and "](" in ln]
    assert again == rows
    assert jobs.read_report(out, names) == runs
