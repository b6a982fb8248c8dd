"""The experiments package: frozen configs whose defaults are the quick profile, typed results that
round-trip through save/load unchanged and hold exactly what the sim/ computation returned."""

import dataclasses

import numpy as np
import pytest

from logitrank.experiments import Experiment
from logitrank.jobs import all_jobs
from logitrank.sim import experiments as sim_experiments
from logitrank.sim import learning as sim_learning


def _experiments():
    return [j for j in all_jobs() if isinstance(j, Experiment)]


def _same(a, b) -> bool:
    """Deep equality for results: dataclasses field by field, arrays bit for bit (dtype and shape too)."""
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b))


def test_configs_are_frozen_and_their_defaults_are_the_quick_profile():
    exps = _experiments()
    assert len(exps) >= 7
    for e in exps:
        assert set(e.profiles) == {"quick", "full"}, e.name
        cls = type(e.profiles["quick"])
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, e.name
        assert e.profiles["quick"] == cls(), e.name
        assert type(e.profiles["full"]) is cls and e.profiles["full"] != cls(), e.name
        assert dataclasses.is_dataclass(e.result_type) and e.result_type.__dataclass_params__.frozen, e.name


def _roundtrip(module, config, tmp_path, inputs=None):
    result = module.compute(config, tmp_path, inputs)
    result.save(tmp_path)
    loaded = type(result).load(tmp_path)
    assert _same(result, loaded)
    return loaded


def test_cutwise_result_holds_the_sim_computation(tmp_path):
    from logitrank.experiments import cutwise_rank_vs_dimension as exp
    cfg = exp.CutwiseRankConfig(horizon=4, dims=(1, 2), n_seeds=2, hmm_states=(2,))
    r = _roundtrip(exp, cfg, tmp_path)
    ref = sim_experiments.cutwise_rank_vs_dimension(vocab_size=3, horizon=4, dims=[1, 2], n_seeds=2,
                                                    hmm_states=[2], seed=0)
    assert np.array_equal(r.isan_rank_per_cut, ref["isan_rank_per_cut"])
    assert np.array_equal(r.hmm_max_rank, ref["hmm_max_rank"]) and r.horizon == 4 and r.vocab_size == 3


def test_phase_result_holds_the_sim_computation(tmp_path):
    from logitrank.experiments import alpha_phase_transition as exp
    cfg = exp.PhaseTransitionConfig(alphas=(0.3, 0.8), sizes=(100, 300, 1000))
    r = _roundtrip(exp, cfg, tmp_path)
    ref = sim_experiments.phase_transition_ranks(alphas=[0.3, 0.8], sizes=[100, 300, 1000], rel_err=0.3)
    assert np.array_equal(r.ranks, ref["ranks"]) and np.array_equal(r.last_decade_slope, ref["last_decade_slope"])
    assert exp.log_sizes(3) == tuple(int(n) for n in np.unique(np.logspace(2, 3, 7).astype(int)))


def test_lingen_result_holds_the_sim_computation(tmp_path):
    from logitrank.experiments import lingen_synthetic as exp
    cfg = exp.LingenSyntheticConfig(vocab_size=3, horizon=6, dim=2, history_length=3, n_histories=4, n_futures=4,
                                    n_models=1, n_steps=3, n_samples=2)
    r = _roundtrip(exp, cfg, tmp_path)
    ref = sim_experiments.lingen_synthetic(**dataclasses.asdict(cfg))
    for fam in ("isan", "hmm"):
        for m, kl in getattr(r, fam).methods():
            assert np.array_equal(kl, ref[f"{fam}/{m}"])
    assert r.n_steps == 3


def test_rank_curves_result_normalises_the_real_input(tmp_path):
    from logitrank.experiments import synthetic_vs_real_rank_curves as exp
    real = tmp_path / "real"
    real.mkdir()
    import dataclasses

    from logitrank.experiments.real_spectrum import ModelSpectrum, RealSpectrumResult
    s = {"trained": np.array([4.0, 2.0, 1.0]), "untrained": np.array([2.0, 1.5, 1.0])}
    spectra = {}
    for label, sv in s.items():
        kw = {f.name: np.zeros(2) for f in dataclasses.fields(ModelSpectrum)}
        kw.update(singular_values=sv, alpha=0.6, alpha_err=0.1, is_power_law=True, seconds=0.0, tokens=0)
        spectra[label] = ModelSpectrum(**kw)
    RealSpectrumResult(**spectra, matrix_trained=np.zeros((3, 4), np.float32), column_tokens=np.zeros((2, 2)),
                       histories=np.zeros((3, 2)), futures=np.zeros((2, 2)), config={}, threads_used=1).save(real)
    cfg = exp.RankCurvesConfig(vocab_size=3, history_length=2, n_histories=8, n_futures=4, max_future_length=1,
                               dims=(1,), hmm_states=(2,), alphas=(0.5,))
    r = _roundtrip(exp, cfg, tmp_path / "out", {"real_spectrum": real})
    assert np.array_equal(r.real_trained, [1.0, 0.5, 0.25]) and np.array_equal(r.real_untrained, [1.0, 0.75, 0.5])
    assert np.array_equal(r.real_alpha, [0.6, 0.6]) and list(r.labels) == ["ISAN d=1", "HMM k=2", "power law α=0.5"]


@pytest.mark.parametrize("which", ["noise", "scaling", "parity"])
def test_learning_results_hold_the_sim_computation(tmp_path, which):
    if which == "noise":
        from logitrank.experiments import learning_oracle_noise as exp
        cfg = exp.OracleNoiseConfig(noises=(0.0, 0.01), vocab_size=2, horizon=3, dim=1, n_seeds=1)
        r = _roundtrip(exp, cfg, tmp_path)
        ref = sim_learning.noise_sweep((0.0, 0.01), vocab_size=2, horizon=3, dim=1, epsilon=0.05, n_seeds=1)
        assert [(x.noise, x.queries, x.tv) for x in r.runs] == [(x.noise, x.queries, x.tv) for x in ref]
        assert r.config == cfg
    elif which == "scaling":
        from logitrank.experiments import learning_query_scaling as exp
        cfg = exp.QueryScalingConfig(vocab_size=2, base_horizon=3, base_dim=1, dims=(1,), horizons=(2,),
                                     epsilons=(0.1,), n_seeds=1)
        r = _roundtrip(exp, cfg, tmp_path)
        assert [x.horizon for x in r.horizon] == [2] and r.epsilon[0].epsilon == 0.1
        ref = sim_learning.learn_random_isan(2, 3, 1, 0, epsilon=0.05)
        assert (r.dim[0].queries, r.dim[0].tv, r.dim[0].ranks) == (ref.queries, ref.tv, ref.ranks)
    else:
        from logitrank.experiments import learning_noisy_parity as exp
        cfg = exp.NoisyParityConfig(n_bits=(3,), seeds=(0,), needed_n_bits=(3,), needed_max_samples=500)
        r = _roundtrip(exp, cfg, tmp_path)
        ref = sim_learning.parity_comparison(3, 0, noise=0.1, epsilon=0.05)
        assert (r.rows[0].budget, r.rows[0].query_tv, r.rows[0].spectral_tv) == \
            (ref["budget"], ref["query_tv"], ref["spectral_tv"])
        assert r.config == cfg and r.needed[0].n_bits == 3
