"""The real-model figure modules draw and state claims from saved results (synthetic stand-ins)."""

import json

import numpy as np

from logitrank.io import atomic_save_npz
from logitrank.jobs import Claim
from logitrank.paper_figs import real_lingen, real_principal_angles, real_spectrum
from logitrank.real_models.logit_jobs import JOBS, angles_config, lingen_config, spectrum_config


def _spectrum_results(d, alpha_t, alpha_u):
    for lab, a in (("trained", alpha_t), ("untrained", alpha_u)):
        s = np.arange(1, 41) ** -a
        atomic_save_npz(d / f"analysis_{lab}.npz", singular_values=s, alpha=np.array(a), alpha_err=np.array(0.01),
                        log_scale=np.array(0.0), fit_range=np.array([1, 20]), factors=np.array([1, 2, 4]),
                        alpha_mean=np.array([a, a + 0.01, a - 0.01]), alpha_std=np.array([0, 0.01, 0.02]),
                        ranks=np.array([1, 2, 4, 8]), average_kl=np.array([0.4, 0.2, 0.1, 0.05]),
                        frobenius_bound=np.array([1.0, 0.5, 0.3, 0.1]))
    (d / "summary.json").write_text(json.dumps({
        "config": spectrum_config("quick"), "trained": {"shape": [40, 1600], "fit_range": [1, 20]}}))


def test_spectrum_figure_and_verdicts(tmp_path):
    _spectrum_results(tmp_path, 0.55, 0.40)
    paths = real_spectrum.plot(tmp_path, tmp_path / "figs")
    assert all(p.exists() for p in paths)
    cl = real_spectrum.claims(tmp_path)
    assert all(isinstance(c, Claim) for c in cl)
    assert cl[0].verdict == "yes" and "0.550" in cl[0].ours
    _spectrum_results(tmp_path, 0.45, 0.50)
    assert real_spectrum.claims(tmp_path)[0].verdict == "no"


def test_angles_and_lingen_figures(tmp_path):
    atomic_save_npz(tmp_path / "angles.npz", n_histories=np.array(40), n_futures=np.array(30), k=np.array(50),
                    **{"real_vs_nonsense/5": np.array([1, .99, .95, .9, .8]), "random/5": np.full(5, 0.3)})
    assert real_principal_angles.plot(tmp_path, tmp_path / "f")[0].exists()
    assert real_principal_angles.claims(tmp_path)[0].verdict == "yes"
    (tmp_path / "config.json").write_text(json.dumps(lingen_config("quick")))
    rng = np.random.default_rng(0)
    for opt in ("in_distribution", "nonsense"):
        atomic_save_npz(tmp_path / f"lingen_{opt}.npz", lingen=rng.random((2, 15)) * 0.1,
                        next_token_only=rng.random((2, 15)), last_m_tokens=rng.random((2, 15)) * 2)
    assert real_lingen.plot(tmp_path, tmp_path / "f")[0].exists()
    cl = real_lingen.claims(tmp_path)
    assert [c.verdict for c in cl] == ["yes", "yes"]
    assert "2.85" in real_lingen.table_markdown(tmp_path)


def test_job_configs_are_serialisable():
    for job in JOBS:
        for profile in ("quick", "full"):
            json.dumps(job.config(profile))
    assert angles_config("quick")["ranks"]


def test_real_cli_has_help():
    from typer.testing import CliRunner

    from logitrank.cli import app
    res = CliRunner().invoke(app, ["real", "--help"])
    assert res.exit_code == 0 and "spectrum" in res.output and "lingen" in res.output
