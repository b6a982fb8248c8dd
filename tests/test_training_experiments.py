"""The trained-LM experiments (trained_lms → training_dynamics, trained_lm_claims) and ``logitrank checkpoints``.

Tiny configs on the three short texts of tests/data/corpus (a user corpus), so each test runs
in seconds on CPU. Numbers are checked against the generic extended logit matrix of the
theory side and NumPy (SVD, log-softmax), not against the engine the code uses.
"""

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from logitrank.experiments import trained_lm_claims, trained_lms, training_dynamics
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.corpus import read_corpus
from logitrank.real_models.training import TrainedLMConfig, TrainingConfig, train_bpe_tokenizer, train_causal_lm
from logitrank.theory.logit_matrix import extended_logit_matrix
from logitrank.theory.spectrum import fit_power_law

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
TEXT = (DATA / "training_sample.txt").read_text()
TINY = TrainedLMConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_ratio=2, max_context=48)
CLI_SIZES = ["--n-histories", "24", "--history-length", "6", "--n-futures", "4", "--future-length", "2", "--k", "8",
             "--rank", "4", "--n-boot", "5", "--text", str(CORPUS)]


def _series(tmp, texts, vocab=300, name="run"):
    tok = train_bpe_tokenizer(texts, vocab_size=vocab)
    ids = np.asarray(tok(TEXT, add_special_tokens=False)["input_ids"], dtype=np.int64)
    cut = int(0.8 * ids.size)
    run = train_causal_lm(ids[:cut], ids[cut:], tok, tmp / name, model_config=TINY, device="cpu", progress=False,
                          training=TrainingConfig(steps=2, batch_size=4, seq_len=16, lr=1e-2, warmup_steps=1,
                                                  checkpoint_steps=(0, 2), val_windows=4))
    return run


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return _series(tmp_path_factory.mktemp("series"), TEXT.splitlines())


def _cli(monkeypatch, capsys, args):
    from logitrank import cli
    monkeypatch.setattr("sys.argv", ["logitrank", "checkpoints", *args])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


def test_checkpoints_command_on_two_tiny_checkpoints(series, tmp_path, monkeypatch, capsys):
    """The over-training table of steps 0 and 2: α is the power-law fit of the NumPy singular
    values of the generic L_{M,k}(H, F) (same held-out windows), the held-out loss is the mean
    next-token NLL (NumPy log-softmax), every weight matrix is counted; CSV, result, figure exist."""
    out = tmp_path / "out"
    dirs = [str(p) for _, p in series.checkpoints][::-1]          # any order: sorted by step
    code, cap = _cli(monkeypatch, capsys, [*dirs, "--out", str(out), *CLI_SIZES])
    assert code == 0, cap.err
    for name in ("checkpoints.csv", "result.json", "training_dynamics.json", "training_dynamics.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "checkpoints.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [0, 2]
    result = training_dynamics.TrainingDynamicsResult.load(out)
    tok = HFCausalLM.load(series.checkpoints[0][1], device="cpu").tokenizer
    w = read_corpus(str(CORPUS), tok).windows({"histories": (24, 6), "futures": (4, 2)}, seed=0)
    H, F = w["histories"].tokens, w["futures"].tokens
    for (_step, path), row, pt in zip(series.checkpoints, rows, result.points["series"]):
        lm = HFCausalLM.load(path, device="cpu")
        L = extended_logit_matrix(lm, H, F, rule="topk_average", k=8).values
        s = np.linalg.svd(L, compute_uv=False)
        fr = (2, 12)                                          # 0.01–0.5 of min(|H| = 24, |F|k = 32, d = 32)
        assert pt["fit_range"] == list(fr)
        assert abs(float(row["alpha"]) - fit_power_law(s, fit_range=fr).alpha_) < 1e-4
        assert float(row["alpha_low"]) <= float(row["alpha_high"])
        x = torch.tensor([[0, *h] for h in H])
        with torch.no_grad():
            logits = lm.model(input_ids=x).logits[:, :-1].double().numpy()
        logp = logits - logits.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        nll = -np.take_along_axis(logp, x[:, 1:, None].numpy(), -1).mean()
        assert abs(float(row["val_loss"]) - nll) < 1e-4
        assert int(row["mp_n_matrices"]) == 2 * 7
    assert json.loads((out / "result.json").read_text())["checkpoints"][0]["step"] == 0
    # A rerun reuses the per-checkpoint records: no model is loaded again.
    monkeypatch.setattr(HFCausalLM, "load", classmethod(lambda cls, *a, **k: pytest.fail("reloaded")))
    code, cap = _cli(monkeypatch, capsys, [*dirs, "--out", str(out), *CLI_SIZES])
    assert code == 0, cap.err


def test_checkpoints_command_bad_inputs_exit_2_before_loading(series, tmp_path, monkeypatch, capsys):
    """Missing directory, mismatched tokenizers, a corpus too small for the windows, a single
    checkpoint: one-line error, exit code 2, no model loaded, no result.json written."""
    other = _series(tmp_path, [TEXT.upper()] * 3, vocab=280, name="other")
    monkeypatch.setattr(HFCausalLM, "load", classmethod(lambda cls, *a, **k: pytest.fail("a model was loaded")))
    a, b = (str(p) for _, p in series.checkpoints)
    out = tmp_path / "out"
    cases = [([a, str(tmp_path / "missing")], "does not exist"),
             ([a, str(other.checkpoints[-1][1])], "different tokenizer"),
             ([a, b, "--n-histories", "5000"], "cannot hold the requested windows"),
             ([a], "at least two"),
             ([a, str(tmp_path)], "config.json")]
    for args, msg in cases:
        sizes = [x for x in CLI_SIZES]
        if "--n-histories" in args:
            i = sizes.index("--n-histories")
            del sizes[i:i + 2]
        code, cap = _cli(monkeypatch, capsys, [*args, "--out", str(out), *sizes])
        assert code == 2, (args, cap.err)
        assert msg in cap.err and "Traceback" not in cap.err and len(cap.err.strip().splitlines()) == 1
        assert not (out / "result.json").exists()


def _tiny_family_config():
    return dataclasses.replace(trained_lms.TrainedLMsConfig(), corpus=str(CORPUS), n_heldout_documents=1,
                               vocab_size=300, widths=("d64",), steps=2, batch_size=2, seq_len=16, warmup_steps=1,
                               n_checkpoints=3, val_windows=2, threads=1)


def test_experiments_end_to_end_on_a_tiny_family(tmp_path, monkeypatch):
    """trained_lms trains once and is cached (a rerun builds no model); training_dynamics and
    trained_lm_claims read it; figures and claim rows are produced; the step-0 α of the dynamics
    is the fit of the NumPy spectrum of the generic matrix on the held-out windows."""
    fam_dir, dyn_dir, cl_dir, figs = (tmp_path / n for n in ("family", "dyn", "claims", "figs"))
    fam_cfg = _tiny_family_config()
    fam = trained_lms.compute(fam_cfg, fam_dir)
    fam.save(fam_dir)
    assert [m.steps for m in fam.models] == [(0, 1, 2)] and len(fam.heldout_documents) == 1
    import logitrank.real_models.training as training_mod
    monkeypatch.setattr(training_mod, "build_trained_lm", lambda *a, **k: pytest.fail("retrained"))
    again = trained_lms.compute(fam_cfg, fam_dir)
    assert again.models[0].val_loss == fam.models[0].val_loss
    monkeypatch.undo()
    dyn_cfg = dataclasses.replace(training_dynamics.TrainingDynamicsConfig(), n_histories=16, history_length=6,
                                  n_futures=4, future_length=2, k=8, rank=3, factors=(1, 2), n_boot=4, n_boot_kl=4,
                                  threads=1)
    dyn = training_dynamics.compute(dyn_cfg, dyn_dir, {"trained_lms": fam_dir})
    dyn.save(dyn_dir)
    pts = training_dynamics.TrainingDynamicsResult.load(dyn_dir).points["d64"]
    assert [p["step"] for p in pts] == [0, 1, 2]
    assert [p["val_loss"] for p in pts] == list(fam.models[0].val_loss)
    corpus = trained_lms.heldout_corpus(fam_dir)
    H, F = training_dynamics.probe_windows(corpus, dyn_cfg)
    lm = HFCausalLM.load(fam_dir / fam.models[0].checkpoints[0], device="cpu")
    s = np.linalg.svd(extended_logit_matrix(lm, H, F, rule="topk_average", k=8).values, compute_uv=False)
    assert abs(pts[0]["alpha"] - fit_power_law(s, fit_range=(2, 8)).alpha_) < 1e-4
    assert all(p["kl_at_rank"] <= p["kl_bound_at_rank"] + 1e-12 for p in pts)
    cl_cfg = dataclasses.replace(trained_lm_claims.TrainedLMClaimsConfig(), n_histories=16, history_length=6,
                                 n_futures=4, future_length=2, k=8, factors=(1, 2), ranks=(1, 2, 4),
                                 angle_ranks=(2,), n_boot=4, threads=1)
    cl = trained_lm_claims.compute(cl_cfg, cl_dir, {"trained_lms": fam_dir})
    cl.save(cl_dir)
    assert cl.summary["width"] == "d64" and cl.summary["shape"] == [16, 32]
    for exp, d in ((trained_lms.EXPERIMENT, fam_dir), (training_dynamics.EXPERIMENT, dyn_dir),
                   (trained_lm_claims.EXPERIMENT, cl_dir)):
        mod = exp.figures()
        assert all(p.is_file() for p in mod.plot(d, figs))
        assert mod.claims(d)


def test_fit_range_follows_the_rank_bound():
    """Each future's block is linear in the d_model-dim hidden state, so rank L ≤ |F|·min(k, d_model);
    α is fitted on 0.01–0.5 of min(|H|, that bound)."""
    assert training_dynamics.fit_range_for(1024, 128, 50, 128) == (11, 512)
    assert training_dynamics.fit_range_for(1024, 2, 200, 64) == (2, 64)
    assert training_dynamics.fit_range_for(192, 24, 50, 64) == (2, 96)
    from logitrank.errors import InvalidInputError
    with pytest.raises(InvalidInputError, match="fit"):
        training_dynamics.fit_range_for(4, 100, 50, 64)


def test_trained_lm_lingen_runs_on_the_held_out_documents_of_the_widest_checkpoint(tmp_path):
    """trained_lm_lingen evaluates the *last* checkpoint of the widest width, on text cut only from
    the documents trained_lms held out (written out verbatim), and yields intervals that contain
    their own means; the figure and claim rows are produced."""
    from logitrank.experiments import trained_lm_lingen
    from logitrank.experiments.real_lingen import METHODS
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = TEXT.splitlines()
    for i in range(4):                                   # 4 documents of a few 512-token segments each
        (corpus / f"doc{i}.txt").write_text("\n".join(lines[i::2] * 6) + "\n")
    fam_dir, out = tmp_path / "family", tmp_path / "lingen"
    fam_cfg = dataclasses.replace(_tiny_family_config(), corpus=str(corpus))
    fam = trained_lms.compute(fam_cfg, fam_dir)
    fam.save(fam_dir)
    cfg = dataclasses.replace(trained_lm_lingen.TrainedLMLingenConfig(), n_histories=8, history_length=4,
                              n_futures=2, future_length=2, n_targets=3, target_length=6, last_m=2, n_steps=2, k=8,
                              sweep_sizes=(4, 8), sweep_generate_max=4, n_boot=50, future_chunk=2, threads=1)
    res = trained_lm_lingen.compute(cfg, out, {"trained_lms": fam_dir})
    res.save(out)
    last = fam.checkpoint_paths(fam_dir, "d64")[-1][1]
    assert res.config["model"] == str(last)
    written = sorted(p.name for p in (out / "heldout_text").iterdir())
    assert written == sorted(f"{Path(d).stem}.txt" for d in fam.heldout_documents)
    for d in fam.heldout_documents:                     # verbatim held-out bodies, nothing from training docs
        body = (out / "heldout_text" / f"{Path(d).stem}.txt").read_text()
        assert body.strip() == (corpus / f"{Path(d).stem}.txt").read_text().strip()
    for o in res.options.values():
        for m in METHODS:
            lo, hi = o.interval(m)
            assert lo <= o.total_mean(m) <= hi and o.per_step(m).shape == (3, 2)
    mod = trained_lm_lingen.EXPERIMENT.figures()
    assert all(p.is_file() for p in mod.plot(out, tmp_path / "figs"))
    rows = mod.claims(out)
    assert rows and all("our trained LM d64" in r.claim or "our trained LM d64" in r.setting for r in rows)
