"""The weights- and representations-lens experiments (moved from weights_jobs / representation_jobs):
results round-trip through save/load bit for bit, record the torch thread count they ran with, and
hold what an independent computation in the test gives (tiny random Llama in place of SmolLM2)."""

import dataclasses

import numpy as np
import pytest
import torch
from _tiny_llama import tiny_llama
from test_experiments import _same


class _ByteTokenizer:
    """text -> byte values mod 64 (a tokenizer for the tiny Llama's 64-token vocabulary)."""

    bos_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [2 + b % 62 for b in text.encode()]}


@pytest.fixture
def tiny(monkeypatch):
    """Every ``HFCausalLM.load(...)`` inside the experiments returns the tiny Llama (with a byte tokenizer)."""
    def load(cls, name=None, **kw):
        lm = tiny_llama(seed=3)
        lm.tokenizer = _ByteTokenizer()
        return lm
    from logitrank.real_models.adapter import HFCausalLM
    monkeypatch.setattr(HFCausalLM, "load", classmethod(load))
    return tiny_llama(seed=3)


def _roundtrip(module, config, out):
    result = module.compute(config, out)
    result.save(out)
    loaded = type(result).load(out)
    assert _same(result, loaded)
    return loaded


def test_weights_spectra_holds_every_singular_value(tmp_path, tiny):
    from logitrank.experiments import weights_spectra as exp
    r = _roundtrip(exp, exp.WeightSpectraConfig(models=("tiny",), vector_layers=(1,), threads=1), tmp_path)
    assert r.threads == 1
    trained = {row["name"]: row for row in r.rows["tiny"]["trained"]}
    assert len(trained) == 2 * 7                          # 2 blocks x Q, K, V, O, gate, up, down
    w = dict(tiny.model.named_parameters())["model.layers.1.mlp.down_proj.weight"].detach().double().numpy()
    sv = r.model_arrays("tiny")["trained|model.layers.1.mlp.down_proj.weight|sv"]
    assert np.allclose(np.sort(sv)[::-1], np.linalg.svd(w, compute_uv=False), rtol=1e-10, atol=1e-12)
    assert "trained|model.layers.0.mlp.down_proj.weight|ipr" not in r.model_arrays("tiny")   # vectors: block 1 only


def test_weights_claim_intervals_are_bootstrap_means_over_blocks_and_matrices():
    """Query − Att-Out right outliers paired per block, spacing ratio over matrices: the 2.5% / 97.5%
    quantiles of means of rows resampled with replacement (same draws, in the function's order), written out here."""
    from logitrank.experiments.weights_spectra import claim_intervals
    rng = np.random.default_rng(4)
    trained, twin = [], []
    for layer in range(6):
        for t in ("query", "attention_output", "up"):
            trained.append({"layer": layer, "type": t, "n_above_band": int(rng.integers(0, 50)),
                            "spacing_ratio": float(rng.uniform(0.45, 0.6)), "frac_below_band": float(rng.uniform())})
            twin.append({"layer": layer, "type": t, "n_above_band": 0, "spacing_ratio": float(rng.uniform(0.5, 0.55))})
    got = claim_intervals({"trained": tuple(trained), "twin": tuple(twin)}, np.random.default_rng(7), 500)
    ref = np.random.default_rng(7)
    diffs = np.array([trained[3 * i]["n_above_band"] - trained[3 * i + 1]["n_above_band"] for i in range(6)], float)
    for key, values in (("query_minus_attout", diffs),
                        ("spacing_ratio_trained", np.array([r["spacing_ratio"] for r in trained])),
                        ("spacing_ratio_twin", np.array([r["spacing_ratio"] for r in twin])),
                        ("frac_below_band_up", np.array([r["frac_below_band"] for r in trained if r["type"] == "up"]))):
        means = values[ref.integers(0, values.size, size=(500, values.size))].mean(axis=1)
        lo, hi = np.quantile(means, [0.025, 0.975])
        assert got[key][0] == pytest.approx(values.mean(), rel=1e-12)
        assert got[key][1:3] == pytest.approx([lo, hi], rel=1e-12)
        assert got[key][3] == values.size


def test_weights_activations_round_trip_and_threads(tmp_path, tiny):
    from logitrank.experiments import weights_activations as exp
    r = _roundtrip(exp, exp.ActivationsConfig(n_sequences=2, length=8, layers=(1,), threads=1), tmp_path)
    assert r.threads == 1 and r.n_tokens == 16
    assert {m.label for m in r.matrices} == {"trained", "twin"} and all(m.layer == 1 for m in r.matrices)
    for m in r.matrices:
        o = r.overlap(m)
        assert o.shape == r.singular_values(m).shape and np.all((o >= 0) & (o <= 1 + 1e-9))


def test_removal_perplexity_is_measured_on_held_out_corpus_text(tmp_path, tiny):
    """Base PPL = exp(mean NLL) of the corpus windows (BOS + window, one window per segment of
    ``length`` tokens), recomputed here from the logits."""
    from logitrank.experiments import weights_removal as exp
    from logitrank.real_models.corpus import corpus_windows
    cfg = exp.RemovalConfig(text="tests/data/corpus", n_windows=3, length=10, types=("query", "down"), threads=1)
    r = _roundtrip(exp, cfg, tmp_path)
    assert r.threads == 1 and r.perplexity.shape == (2, 10) and r.n_tokens == 3 * 10 and r.length == 10
    windows = corpus_windows("tests/data/corpus", lambda text: _ByteTokenizer()(text)["input_ids"],
                             {"heldout": (3, 10)}, seed=cfg.seed, segment_tokens=10)["heldout"]
    assert _same(r.tokens, np.array([[0, *w] for w in windows]))
    with torch.no_grad():
        logp = torch.log_softmax(tiny.model(torch.from_numpy(r.tokens)).logits[:, :-1].double(), -1)
    nll = -logp.gather(-1, torch.from_numpy(r.tokens[:, 1:, None])).mean()
    assert r.base_perplexity == pytest.approx(float(torch.exp(nll)), rel=1e-5)
    assert np.all(np.isfinite(r.delta_perplexity[:, -1])) and r.sources[0][0].endswith(".txt")


def test_reps_theorems_thm3_is_exact_and_round_trips(tmp_path):
    """Thm 3: under exact log-odds matching the projected steering vectors are parallel (cos = 1)."""
    from logitrank.experiments import reps_theorems as exp
    cfg = exp.TheoremsConfig(thm3_ms=(3,), thm12_steps=40, thm14_steps=200, thm4_steps=200)
    r = _roundtrip(exp, cfg, tmp_path)
    assert r.thm3[0]["projected_cos_min"] > 1 - 1e-9 and r.thm3[0]["residual_max"] < 1e-9
    assert r.trajectory("thm12", "steps")[-1] == 40 and set(r.gd) == {"thm12", "thm14", "thm14_gauss", "thm4"}


def test_reps_sim_cosines_cells_hold_the_sim_training(tmp_path):
    from logitrank.experiments import reps_sim_cosines as exp
    from logitrank.sim.concept_training import cosine_table, train_concept_models
    cfg = exp.SimCosinesConfig(ms=(3,), runs=(2,), sgd_steps=(30,), adam_steps=(20,))
    r = _roundtrip(exp, cfg, tmp_path)
    assert [(c.optimizer, c.m) for c in r.cells] == [("sgd", 3), ("adam", 3)]
    ref = cosine_table(train_concept_models(3, seeds=range(3000, 3002), optimizer="adam", lr=0.01, n_steps=20,
                                            batch_size=100, edge_prob=0.5, keep_prob=0.5, log_every=1))
    assert r.cell("adam", 3).per_run == ref["per_run"]


def test_moved_configs_default_to_torch_threads():
    """The shared convention: ``threads=None`` (torch's default) unless set."""
    from logitrank.experiments import reps_real_model, weights_activations, weights_removal, weights_spectra
    for module in (weights_spectra, weights_activations, weights_removal, reps_real_model):
        for cfg in module.PROFILES.values():
            assert cfg.threads is None and "threads" in {f.name for f in dataclasses.fields(cfg)}


def test_concept_intervals_resample_concepts_in_pairs():
    """Within = mean diagonal, drop = mean |off-diagonal| Euclidean − causal over distinct drawn concepts;
    the same concept draw for both tables; 2.5% / 97.5% quantiles — written out here."""
    from logitrank.experiments.reps_real_model import concept_intervals
    rng = np.random.default_rng(11)
    k = 7
    E = rng.uniform(-0.3, 0.3, (k, k))
    E[np.diag_indices(k)] = rng.uniform(0.2, 0.6, k)
    C = E * 0.4
    got = concept_intervals(E, C, np.random.default_rng(5), n_boot=400)
    draws = np.random.default_rng(5).integers(0, k, size=(400, k))
    within, drop = [], []
    for ix in draws:
        pairs = [(a, b) for i, a in enumerate(ix) for j, b in enumerate(ix) if i != j and a != b]
        within.append(np.mean([E[a, a] for a in ix]))
        if pairs:
            drop.append(np.mean([abs(E[a, b]) for a, b in pairs]) - np.mean([abs(C[a, b]) for a, b in pairs]))
    off = ~np.eye(k, dtype=bool)
    assert got["euclid_within"][0] == pytest.approx(np.diag(E).mean(), rel=1e-12)
    assert got["euclid_within"][1:] == pytest.approx(list(np.quantile(within, [0.025, 0.975])), rel=1e-12)
    assert got["across_abs_drop"][0] == pytest.approx(np.abs(E[off]).mean() - np.abs(C[off]).mean(), rel=1e-12)
    assert got["across_abs_drop"][1:] == pytest.approx(list(np.quantile(drop, [0.025, 0.975])), rel=1e-12)
    assert 0 < got["across_abs_drop"][1]                  # C is E shrunk off the diagonal: the drop is positive
