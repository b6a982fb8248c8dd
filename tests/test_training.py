"""LMs trained from step 0 (real_models/training.py) and the logit-rank training diagnostic.

Tiny configs (d_model 16-32, 2 layers, vocab ~300) on a few lines of Shakespeare shipped
in tests/data/, so every test runs in seconds on CPU.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from logitrank.errors import InvalidInputError, ModelLoadError, ResumeError
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.training import (
    TrainedLMConfig,
    TrainingConfig,
    checkpoint_dirs,
    log_spaced_steps,
    train_bpe_tokenizer,
    train_causal_lm,
)
from logitrank.real_models.training_diagnostic import LogitRankCallback, LogitRankProbe, logit_rank_probe
from logitrank.theory.logit_matrix import extended_logit_matrix
from logitrank.theory.spectrum import fit_power_law

TEXT = (Path(__file__).parent / "data" / "training_sample.txt").read_text()
TINY = TrainedLMConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_ratio=2, max_context=48)


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(TEXT.splitlines(), vocab_size=300)


@pytest.fixture(scope="module")
def streams(tokenizer):
    ids = np.asarray(tokenizer(TEXT, add_special_tokens=False)["input_ids"], dtype=np.int64)
    cut = int(0.8 * ids.size)
    return ids[:cut], ids[cut:]


def _training(**kw):
    base = dict(steps=4, batch_size=4, seq_len=16, lr=1e-2, warmup_steps=1, checkpoint_steps=(0, 1, 2, 4),
                val_windows=4, save_every=2)
    base.update(kw)
    return TrainingConfig(**base)


def _state(path):
    _lm = HFCausalLM.load(path, device="cpu")
    m = _lm.model
    return m.state_dict()


def test_tokenizer_is_deterministic_and_round_trips(tokenizer, tmp_path):
    """Same text → same vocabulary and merges
    decode(encode(x)) = x (byte-level); BOS/EOS/PAD = 0/1/2."""
    again = train_bpe_tokenizer(TEXT.splitlines(), vocab_size=300, out_dir=tmp_path / "tok")
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    assert len(tokenizer) == 300
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (0, 1, 2)
    line = "Thou art more lovely, Juliet — and ünïcode."
    assert tokenizer.decode(tokenizer(line)["input_ids"]) == line
    from transformers import AutoTokenizer
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok", local_files_only=True)
    assert loaded(line)["input_ids"] == tokenizer(line)["input_ids"]


def test_log_spaced_steps():
    """Step 0 and the last step are always included
    the rest are geometric."""
    assert log_spaced_steps(1000, 5) == [0, 1, 10, 100, 1000]
    assert log_spaced_steps(2, 8) == [0, 1, 2]
    assert log_spaced_steps(7, 1) == [0, 7]


def test_checkpoints_load_and_match_saved_model(tokenizer, streams, tmp_path):
    """A 2-step run writes step 0, 1, 2 as save_pretrained directories that load_causal_lm and
    HFCausalLM load
    their logits equal those of the model the run returns, and step 0 is the
    seeded initialisation."""
    train, val = streams
    tc = _training(steps=2, checkpoint_steps=None, n_checkpoints=8)
    run = train_causal_lm(train, val, tokenizer, tmp_path / "run", model_config=TINY, training=tc,
                          device="cpu", progress=False)
    assert [s for s, _ in run.checkpoints] == [0, 1, 2]
    assert [r["step"] for r in run.metrics] == [0, 1, 2]
    assert all(np.isfinite(r["val_loss"]) for r in run.metrics)
    assert run.metrics[0]["train_loss"] is None and run.metrics[0]["tokens_seen"] == 0
    assert run.metrics[2]["tokens_seen"] == 2 * tc.batch_size * tc.seq_len
    ids = torch.tensor([[0] + tokenizer("To be, or not")["input_ids"]])
    from logitrank.real_models.training import build_trained_lm
    init = build_trained_lm(TINY, len(tokenizer), seed=tc.seed).eval()
    for step, path in run.checkpoints:
        state = json.loads((path / "training_state.json").read_text())
        assert state["step"] == step and state["seed"] == tc.seed
        assert state["model_config"] == dataclasses.asdict(TINY)
        _lm = HFCausalLM.load(path, device="cpu")
        model, tok = _lm.model, _lm.tokenizer
        assert tok("To be")["input_ids"] == tokenizer("To be")["input_ids"]
        lm = HFCausalLM.load(path, device="cpu")
        assert lm.prefix_tokens == [0]
        with torch.no_grad():
            got = model(input_ids=ids).logits
            np.testing.assert_allclose(lm.next_token_logits(ids[:, 1:].numpy())[0], got[0, -1].double().numpy(), atol=1e-5)
            if step == 0:
                torch.testing.assert_close(got, init(input_ids=ids).logits, rtol=0, atol=0)
    # The recorded validation loss is the mean next-token NLL on the held-out windows (recomputed here).
    model = HFCausalLM.load(run.checkpoints[-1][1], device="cpu").model
    n = min(val.size // tc.seq_len, tc.val_windows)
    x = torch.from_numpy(np.concatenate([np.zeros((n, 1), np.int64), val[:n * tc.seq_len].reshape(n, -1)], axis=1))
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=x).logits[:, :-1].double(), -1)
    nll = -logp.gather(2, x[:, 1:, None]).mean().item()
    assert abs(nll - run.final_val_loss) < 1e-4


def test_resume_after_interruption_gives_identical_weights(tokenizer, streams, tmp_path):
    """Killed after step 3 (last resume state at step 2: step 3 is lost and redone) and rerun:
    every checkpoint, the final weights and the metrics equal an uninterrupted run's."""
    train, val = streams
    tc = _training()
    full = train_causal_lm(train, val, tokenizer, tmp_path / "full", model_config=TINY, training=tc,
                           device="cpu", progress=False)
    out = tmp_path / "cut"
    assert train_causal_lm(train, val, tokenizer, out, model_config=TINY, training=tc, device="cpu",
                           progress=False, stop_after_steps=3) is None
    assert (out / "resume.pt").exists() and not (out / "done.json").exists()
    assert torch.load(out / "resume.pt", weights_only=False)["step"] == 2
    assert [s for s, _ in checkpoint_dirs(out)] == [0, 1, 2]
    resumed = train_causal_lm(train, val, tokenizer, out, model_config=TINY, training=tc, device="cpu",
                              progress=False)
    assert [s for s, _ in resumed.checkpoints] == [0, 1, 2, 4]
    for (_, a), (_, b) in zip(full.checkpoints, resumed.checkpoints):
        sa, sb = _state(a), _state(b)
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[key], sb[key]) for key in sa)
    strip = [{k: v for k, v in r.items()} for r in full.metrics]
    assert strip == list(resumed.metrics)
    assert not (out / "resume.pt").exists() and (out / "done.json").exists()
    # The weights moved: training did something.
    s0, s4 = _state(full.checkpoints[0][1]), _state(full.checkpoints[-1][1])
    assert not torch.equal(s0["model.embed_tokens.weight"], s4["model.embed_tokens.weight"])


def test_finished_run_is_not_retrained_and_other_runs_are_refused(tokenizer, streams, tmp_path, monkeypatch):
    """done.json makes a rerun return the stored result
    a different config in the same
    directory raises ResumeError (and writes nothing)."""
    train, val = streams
    tc = _training(steps=2, checkpoint_steps=(0, 2))
    run = train_causal_lm(train, val, tokenizer, tmp_path, model_config=TINY, training=tc, device="cpu",
                          progress=False)
    import logitrank.real_models.training as training_mod

    def boom(*a, **k):
        raise AssertionError("a finished run must not rebuild the model")

    monkeypatch.setattr(training_mod, "build_trained_lm", boom)
    again = train_causal_lm(train, val, tokenizer, tmp_path, model_config=TINY, training=tc, device="cpu",
                            progress=False)
    assert again.metrics == run.metrics and again.checkpoints == run.checkpoints
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ResumeError, match="different training run"):
        train_causal_lm(train, val, tokenizer, tmp_path, model_config=TINY, training=_training(steps=3, checkpoint_steps=(0, 3)),
                        device="cpu", progress=False)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_bad_inputs_raise_before_anything_is_written(tokenizer, streams, tmp_path):
    """Streams too small for the requested windows/steps, bad ids, bad configs: InvalidInputError, no files."""
    train, val = streams
    out = tmp_path / "run"
    cases = [
        (dict(train_tokens=train[:40]), "fewer than one batch"),
        (dict(training=_training(steps=10_000)), "max_epochs"),
        (dict(val_tokens=val[:5]), "fewer than one window"),
        (dict(train_tokens=np.append(train, 10_000)), "outside the tokenizer's vocabulary"),
        (dict(train_tokens=train.astype(float)), "1-D integer array"),
        (dict(training=_training(seq_len=64)), "max_context"),
        (dict(model_config="d7"), "unknown model preset"),
        (dict(model_config=TrainedLMConfig(d_model=30, n_heads=4)), "heads"),
        (dict(training=_training(steps=0)), "steps must be"),
        (dict(training=_training(checkpoint_steps=(0, 9))), "checkpoint_steps"),
    ]
    for override, msg in cases:
        kw = dict(train_tokens=train, val_tokens=val, model_config=TINY, training=_training())
        kw.update(override)
        with pytest.raises(InvalidInputError, match=msg):
            train_causal_lm(kw.pop("train_tokens"), kw.pop("val_tokens"), tokenizer, out, device="cpu",
                            progress=False, **kw)
        assert not out.exists()
    with pytest.raises(InvalidInputError, match="vocab_size"):
        train_bpe_tokenizer(["abc"], vocab_size=100)
    with pytest.raises(InvalidInputError, match="empty"):
        train_bpe_tokenizer([], vocab_size=300)
    with pytest.raises(ModelLoadError):
        HFCausalLM.load(tmp_path / "missing-checkpoint", device="cpu")


# --- the diagnostic ----------------------------------------------------------------------
def _probe_data(seed=0, n_h=40, n_f=6, vocab=300):
    rng = np.random.default_rng(seed)
    H = [rng.integers(3, vocab, size=int(n)) for n in rng.integers(2, 9, size=n_h)]
    F = [rng.integers(3, vocab, size=int(n)) for n in rng.integers(1, 4, size=n_f)]
    return H, F


def test_probe_alpha_and_kl_equal_numpy_reference(tokenizer):
    """α is the spectrum module's power-law fit of the singular values of the generic
    extended_logit_matrix (SVD in NumPy here)
    KL-at-rank equals Def. 3.1 written out with a
    NumPy truncated SVD and log-softmax over each future's k columns."""
    from logitrank.real_models.training import build_trained_lm
    model = build_trained_lm(TINY, len(tokenizer), seed=3)
    model.train()
    H, F = _probe_data()
    k, rank, fit_range = 10, 5, (2, 20)
    res = logit_rank_probe(model, tokenizer, H, F, k=k, rank=rank, fit_range=fit_range)
    assert model.training                                   # mode restored
    ref = extended_logit_matrix(HFCausalLM(model.eval(), tokenizer), H, F, rule="topk_average", k=k).values
    s = np.linalg.svd(ref, compute_uv=False)
    np.testing.assert_allclose(res.singular_values[:len(s)], s, rtol=1e-4, atol=1e-6 * s[0])
    fit = fit_power_law(s, fit_range=fit_range)
    assert abs(res.alpha - fit.alpha_) < 1e-4 and abs(res.alpha_err - fit.alpha_err_) < 1e-3
    assert res.fit_range == (2, 20)
    U, sv, Vt = np.linalg.svd(ref, full_matrices=False)
    A = (U[:, :rank] * sv[:rank]) @ Vt[:rank]

    def logsm(x):
        x = x.reshape(len(H), len(F), k)
        x = x - x.max(axis=2, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=2, keepdims=True))

    lp, lq = logsm(ref), logsm(A)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=2).mean()
    assert abs(res.kl_at_rank - kl) < 1e-5 * max(kl, 1e-3)
    assert abs(res.kl_bound_at_rank - (sv[rank:] ** 2).sum() / (len(H) * len(F))) < 1e-4 * res.kl_bound_at_rank
    assert res.kl_at_rank <= res.kl_bound_at_rank
    with pytest.raises(InvalidInputError, match="rank"):
        logit_rank_probe(model, tokenizer, H, F, k=k, rank=41)
    with pytest.raises(InvalidInputError, match="empty"):
        logit_rank_probe(model, tokenizer, [], F, k=k)
    with pytest.raises(InvalidInputError):
        logit_rank_probe(model, tokenizer, H, F, k=10_000)


def test_probe_hook_in_plain_loop_writes_metrics(tokenizer, streams, tmp_path):
    """The plain loop calls the probe at every checkpoint and every probe_every steps
    values
    land in metrics.json and in the checkpoint's training_state.json."""
    train, val = streams
    H, F = _probe_data(n_h=24, n_f=4)
    probe = LogitRankProbe(H, F, k=8, rank=4, fit_range=(2, 12))
    tc = _training(steps=3, checkpoint_steps=(0, 3), probe_every=2)
    run = train_causal_lm(train, val, tokenizer, tmp_path, model_config=TINY, training=tc, device="cpu",
                          probe=probe, progress=False)
    probed = [r["step"] for r in run.metrics if "logit_rank/alpha" in r]
    assert probed == [0, 2, 3]
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == list(run.metrics)
    state = json.loads((run.checkpoints[-1][1] / "training_state.json").read_text())
    _lm = HFCausalLM.load(run.checkpoints[-1][1], device="cpu")
    model, tok = _lm.model, _lm.tokenizer
    again = probe(model, tok)
    assert abs(state["logit_rank/alpha"] - again["logit_rank/alpha"]) < 1e-6
    assert abs(state["logit_rank/kl_rank4"] - again["logit_rank/kl_rank4"]) < 1e-6


def test_trainer_callback_logs_metrics(tokenizer, streams, tmp_path):
    """On a tiny transformers.Trainer run the callback's α and KL-at-rank reach
    trainer.state.log_history (through Trainer.log) at step 0 and every N steps, and also
    at evaluation with on='evaluate'."""
    from transformers import Trainer, TrainingArguments

    from logitrank.real_models.training import build_trained_lm
    train, _ = streams
    windows = train[: (train.size // 16) * 16].reshape(-1, 16)
    data = [{"input_ids": torch.tensor([0, *w]), "labels": torch.tensor([0, *w])} for w in windows[:16]]
    H, F = _probe_data(n_h=24, n_f=4)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4,
                             per_device_eval_batch_size=4, logging_steps=2, eval_strategy="steps", eval_steps=4,
                             save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    trainer = Trainer(model=build_trained_lm(TINY, len(tokenizer)), args=args, train_dataset=data,
                      eval_dataset=data[:4], processing_class=tokenizer)
    cb = LogitRankCallback(H, F, every=2, trainer=trainer, k=8, rank=4, fit_range=(2, 12))
    ev = LogitRankCallback(H, F, on="evaluate", trainer=trainer, k=8, rank=4, fit_range=(2, 12), prefix="eval_lr/")
    trainer.add_callback(cb)
    trainer.add_callback(ev)
    trainer.train()
    logged = [(h["step"], h["logit_rank/alpha"], h["logit_rank/kl_rank4"]) for h in trainer.state.log_history
              if "logit_rank/alpha" in h]
    assert [s for s, _, _ in logged] == [0, 2, 4]
    assert all(np.isfinite(a) and kl >= 0 for _, a, kl in logged)
    assert [(s, r.alpha) for s, r in cb.history] == [(s, a) for s, a, _ in logged]
    assert any("eval_lr/alpha" in h and "eval_loss" not in h for h in trainer.state.log_history)
    # The logged values are the probe of the trained weights (recomputed here on the final model).
    final = logit_rank_probe(trainer.model, tokenizer, H, F, k=8, rank=4, fit_range=(2, 12))
    assert abs(final.alpha - logged[-1][1]) < 1e-6
    with pytest.raises(InvalidInputError, match="every"):
        LogitRankCallback(H, F, every=0)
