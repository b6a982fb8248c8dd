"""The main-job runner (cached, resumable) and the CLI (--help everywhere, clean errors)."""

import sys
import types

import pytest
from typer.testing import CliRunner

import logitrank.jobs as jobs
from logitrank.cli import app
from logitrank.errors import InvalidInputError


def _fake_provider(monkeypatch, calls, fail_on=None):
    from logitrank.io import atomic_write_json

    def compute(name):
        def run(cfg, out):
            calls.append(name)
            if name == fail_on:
                raise KeyboardInterrupt("simulated kill")
            atomic_write_json(out / "r.json", {"x": cfg["x"]})
        return run

    fig = types.ModuleType("logitrank.paper_figs._fake")
    fig.plot = lambda rdir, fdir: []
    fig.claims = lambda rdir: [jobs.Claim("logits", f"claim {rdir.parent.name}", "1", "1", "s", "yes")]
    monkeypatch.setitem(sys.modules, "logitrank.paper_figs._fake", fig)
    prov = types.ModuleType("_fake_jobs")
    prov.JOBS = [jobs.Job(n, "logits", n, lambda p: {"x": 1}, compute(n), "_fake") for n in ("a", "b", "c")]
    monkeypatch.setitem(sys.modules, "_fake_jobs", prov)
    monkeypatch.setattr(jobs, "JOB_PROVIDERS", ("_fake_jobs",))


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
    from logitrank.io import atomic_write_json, read_json
    seen = {}

    def producer(cfg, out):
        atomic_write_json(out / "v.json", {"v": cfg["v"]})

    def consumer(cfg, out, inputs):
        seen["v"] = read_json(inputs["p"] / "v.json")["v"]

    fig = types.ModuleType("logitrank.paper_figs._fake2")
    fig.plot = lambda rdir, fdir: []
    fig.claims = lambda rdir: []
    monkeypatch.setitem(sys.modules, "logitrank.paper_figs._fake2", fig)
    value = {"v": 1}
    prov = types.ModuleType("_fake_jobs2")
    prov.JOBS = [jobs.Job("c", "logits", "c", lambda p: {}, consumer, "_fake2", inputs=("p",)),
                 jobs.Job("p", "logits", "p", lambda p: dict(value), producer, "_fake2")]
    monkeypatch.setitem(sys.modules, "_fake_jobs2", prov)
    monkeypatch.setattr(jobs, "JOB_PROVIDERS", ("_fake_jobs2",))
    kw = dict(results_root=tmp_path / "r", figures_dir=tmp_path / "f", results_md=tmp_path / "R.md",
              log=lambda s: None)
    jobs.run_jobs(only=["c"], **kw)
    assert seen == {"v": 1}
    value["v"] = 2                                   # the input's config changes …
    jobs.run_jobs(only=["c"], **kw)
    assert seen == {"v": 2}                          # … so the consumer is recomputed
