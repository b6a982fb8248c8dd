"""The real-model figure modules draw and state claims from typed results (synthetic stand-ins)."""

import dataclasses
import json

import numpy as np
import pytest

from logitrank.experiments import Claim
from logitrank.experiments.real_lingen import METHODS, OptionResult, RealLingenConfig, RealLingenResult
from logitrank.experiments.real_principal_angles import RealAnglesConfig, RealAnglesResult
from logitrank.experiments.real_spectrum import ModelSpectrum, RealSpectrumConfig, RealSpectrumResult
from logitrank.paper_figs import real_lingen, real_principal_angles, real_spectrum


def _model_spectrum(alpha, low, high, power_law=True):
    s = np.arange(1, 41) ** -alpha
    return ModelSpectrum(
        singular_values=s, alpha=alpha, alpha_low=low, alpha_high=high, alpha_err=0.01, log_scale=0.0,
        fit_range=np.array([2, 20]), alpha_lower_half=alpha, alpha_upper_half=alpha,
        gof_relative_disagreement=0.0 if power_law else 1.2, gof_r_squared=1.0, is_power_law=power_law,
        sweep_histories=np.array([5, 10, 20, 40]), sweep_columns=np.array([200, 400, 800, 1600]),
        sweep_alpha=np.full(4, alpha), sweep_low=np.full(4, low), sweep_high=np.full(4, high),
        sweep_is_power_law=np.array([False, True, True, power_law]), subsample_factors=np.array([1, 2, 4]),
        subsample_alpha_mean=np.array([alpha, alpha + 0.01, alpha - 0.01]), subsample_alpha_std=np.array([0, .01, .02]),
        ranks=np.array([1, 2, 4, 8]), average_kl=np.array([0.4, 0.2, 0.1, 0.05]),
        frobenius_bound=np.array([1.0, 0.5, 0.3, 0.1]), seconds=1.0, tokens=100,
        kl_slope=-1.0, kl_slope_low=-1.1, kl_slope_high=-0.9, kl_r_squared=1.0)


def _spectrum(d, trained, untrained):
    RealSpectrumResult(trained=trained, untrained=untrained, matrix_trained=np.zeros((40, 1600), np.float32),
                       column_tokens=np.zeros((32, 50), np.int64), histories=np.zeros((40, 8), np.int64),
                       futures=np.zeros((32, 4), np.int64), config=dataclasses.asdict(RealSpectrumConfig()),
                       threads_used=1).save(d)


@pytest.mark.parametrize("t, u, verdict", [
    ((0.56, 0.52, 0.60), (0.40, 0.35, 0.45), "yes"),
    ((0.56, 0.48, 0.60), (0.40, 0.35, 0.45), "partly"),     # trained interval straddles 1/2, still above twin
    ((0.52, 0.45, 0.60), (0.50, 0.42, 0.58), "inconclusive"),
    ((0.40, 0.35, 0.45), (0.55, 0.52, 0.60), "no"),
])
def test_spectrum_verdict_uses_the_intervals(tmp_path, t, u, verdict):
    _spectrum(tmp_path, _model_spectrum(*t), _model_spectrum(*u))
    cl = real_spectrum.claims(tmp_path)
    assert all(isinstance(c, Claim) for c in cl)
    assert cl[0].verdict == verdict and f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]" in cl[0].ours


def test_spectrum_that_is_not_a_power_law_is_reported(tmp_path):
    _spectrum(tmp_path, _model_spectrum(0.56, 0.52, 0.60), _model_spectrum(0.08, 0.02, 0.14, power_law=False))
    paths = real_spectrum.plot(tmp_path, tmp_path / "figs")
    assert all(p.exists() for p in paths)
    cl = real_spectrum.claims(tmp_path)
    assert cl[0].verdict == "inconclusive" and "power law: NO" in cl[0].ours
    assert "not a power law" in cl[1].ours


def test_angles_figure_and_interval_verdict(tmp_path):
    def save(lo):
        RealAnglesResult(ranks=np.array([5]), cosines=[np.array([1, .99, .95, .9, .8])], mean_low=np.array([lo]),
                         mean_high=np.array([0.95]), random_cosines=[np.full(5, 0.3)],
                         random_mean_low=np.array([0.25]), random_mean_high=np.array([0.35]), n_histories=40,
                         n_futures=30, k=50, config=dataclasses.asdict(RealAnglesConfig()), threads_used=1).save(tmp_path)
    save(0.85)
    assert real_principal_angles.plot(tmp_path, tmp_path / "f")[0].exists()
    assert real_principal_angles.claims(tmp_path)[0].verdict == "yes"
    save(0.30)                                      # interval overlaps the random baseline
    assert real_principal_angles.claims(tmp_path)[0].verdict == "no"


def _lingen(d, lingen_interval, other_interval):
    rng = np.random.default_rng(0)
    lo = np.array([lingen_interval[0], other_interval[0], other_interval[0]])
    hi = np.array([lingen_interval[1], other_interval[1], other_interval[1]])
    opt = OptionResult(lingen=rng.random((6, 15)) * 0.1, next_token_only=rng.random((6, 15)),
                       last_m_tokens=rng.random((6, 15)) * 2, total_low=lo, total_high=hi,
                       residual_lingen=np.zeros(3), residual_next_token_only=np.zeros(3))
    sizes = np.array([48, 144, 640, 1152])
    step1 = np.array([[0.5, 0.3, 1e-5, 1e-6], [0.6, 0.4, 1e-5, 1e-6]])
    RealLingenResult(options={"in_distribution": opt, "nonsense": opt}, sweep_sizes=sizes, sweep_step1=step1,
                     sweep_step1_low=step1 * 0.9, sweep_step1_high=step1 * 1.1,
                     sweep_total=np.array([[3.0, 2.0, 1.0, np.nan], [4.0, 3.0, 2.0, np.nan]]),
                     sweep_total_samples=np.array([3, 3, 6, 0]), d_model=576,
                     config=dataclasses.asdict(RealLingenConfig()), threads_used=1).save(d)


@pytest.mark.parametrize("lingen, other, verdict", [((1.0, 2.0), (5.0, 9.0), "yes"), ((1.0, 6.0), (5.0, 9.0),
                                                     "inconclusive"), ((10.0, 12.0), (5.0, 9.0), "no")])
def test_lingen_figure_and_interval_verdicts(tmp_path, lingen, other, verdict):
    _lingen(tmp_path, lingen, other)
    assert real_lingen.plot(tmp_path, tmp_path / "f")[0].exists()
    cl = real_lingen.claims(tmp_path)
    assert [c.verdict for c in cl[:2]] == [verdict, verdict]
    assert "2.85" in cl[0].paper and "4.95" in cl[1].paper
    assert cl[2].verdict == "yes" and "|H| = 1152" in cl[2].ours
    r = RealLingenResult.load(tmp_path)
    assert set(r.options) == {"in_distribution", "nonsense"} and r.options["nonsense"].interval("lingen") == lingen
    assert METHODS == ("lingen", "next_token_only", "last_m_tokens")


def test_configs_are_serialisable_and_sized_by_the_theory():
    from logitrank.experiments import real_lingen as exp_lingen
    from logitrank.experiments import real_principal_angles as exp_angles
    from logitrank.experiments import real_spectrum as exp_spectrum
    for mod in (exp_spectrum, exp_angles, exp_lingen):
        for profile in ("quick", "full"):
            json.dumps(dataclasses.asdict(mod.EXPERIMENT.config(profile)))
    for profile, factor in (("quick", 1.1), ("full", 4)):
        cfg = exp_lingen.EXPERIMENT.config(profile)
        assert cfg.n_histories >= factor * 576 and cfg.target_length >= 32
        assert max(cfg.sweep_sizes) >= 2 * 576 and min(cfg.sweep_sizes) <= 48
    assert exp_lingen.EXPERIMENT.config("quick").n_targets * exp_lingen.EXPERIMENT.config("quick").n_samples > 4
    full = exp_lingen.EXPERIMENT.config("full")
    assert (full.n_targets, full.n_samples) == (50, 5)
    assert exp_spectrum.EXPERIMENT.config("full").n_histories == exp_spectrum.EXPERIMENT.config("full").n_futures == 1024


def test_real_cli_has_help():
    from typer.testing import CliRunner

    from logitrank.cli import app
    res = CliRunner().invoke(app, ["real", "--help"])
    assert res.exit_code == 0 and "spectrum" in res.output and "lingen" in res.output


def test_angle_intervals_cosines_and_bootstrap_by_hand():
    """Fig. 4 with its interval: the cosines are the principal-angle cosines of the top-r left singular
    subspaces (scipy.linalg.subspace_angles on numpy SVD bases); the bootstrap resamples whole futures
    (k-column blocks, the same blocks for both matrices), so identical matrices give [1, 1]."""
    import scipy.linalg

    from logitrank.experiments.real_principal_angles import angle_intervals
    rng = np.random.default_rng(3)
    nH, nF, k = 30, 12, 4
    real = rng.normal(size=(nH, 6)) @ rng.normal(size=(6, nF * k)) + 0.1 * rng.normal(size=(nH, nF * k))
    nonsense = real + 0.5 * rng.normal(size=real.shape)
    out = angle_intervals(real, nonsense, k, [2, 5], np.random.default_rng(0), n_boot=20, n_random=10)
    for j, r in enumerate((2, 5)):
        UA = np.linalg.svd(real, full_matrices=False)[0][:, :r]
        UB = np.linalg.svd(nonsense, full_matrices=False)[0][:, :r]
        want = np.sort(np.cos(scipy.linalg.subspace_angles(UA, UB)))[::-1]
        np.testing.assert_allclose(out["cosines"][j], want, atol=1e-9)
        assert out["mean_low"][j] <= out["mean_high"][j] <= 1.0
        assert 0 < out["random_low"][j] <= out["random_high"][j] < want.mean()
    same = angle_intervals(real, real, k, [3], np.random.default_rng(1), n_boot=10, n_random=5)
    assert same["mean_low"][0] == pytest.approx(1.0) and same["mean_high"][0] == pytest.approx(1.0)


@pytest.mark.parametrize("kl, low, high, verdict", [
    ([0.4, 0.2, 0.1, 0.05], -1.1, -0.9, "yes"),                  # exact power law r^-1, interval below 0
    ([0.4, 0.1, 0.09, 0.05], -1.1, -0.5, "partly"),              # decays, but R² of the log-log fit < 0.9
    ([0.4, 0.2, 0.1, 0.05], -0.5, 0.1, "inconclusive"),          # the slope's interval reaches 0
    ([0.4, 0.2, 0.1, 0.2], -1.1, -0.9, "no"),                    # KL above the Frobenius bound at r = 8
])
def test_kl_vs_rank_verdict_uses_the_slope_interval_r2_and_the_bound(kl, low, high, verdict):
    from logitrank.paper_figs._claims import kl_vs_rank_claim
    ranks, bound = np.array([1, 2, 4, 8]), np.array([1.0, 0.5, 0.3, 0.1])
    x, y = np.log(ranks), np.log(kl)
    coef = np.polyfit(x, y, 1)                                    # what the experiment stores: slope and R²
    slope, r2 = coef[0], 1 - np.var(y - np.polyval(coef, x)) / np.var(y)
    text, v = kl_vs_rank_claim(ranks, np.array(kl), bound, slope, low, high, r2)
    assert v == verdict
    assert f"log-log slope {slope:.2f} [{low:.2f}, {high:.2f}]" in text
