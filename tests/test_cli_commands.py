"""The commands as a researcher scripts them: --text windows, --out files, reuse, resume, torchrun record.

A tiny random Llama with a character tokenizer (tests/_tiny_model_dir.py) and the small
corpus in tests/data/corpus stand in for SmolLM2 and a play.
"""

import csv
import json

import numpy as np
import pytest
import torch
from _tiny_model_dir import CORPUS, save_tiny_llama_dir
from _tiny_model_dir import run_cli as _run_cli


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_llama_dir(tmp_path_factory.mktemp("cli") / "tiny")


@pytest.fixture(scope="module")
def tok(model_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(model_dir)


def run_cli(monkeypatch, capsys, args, *, forbid_load=False):
    return _run_cli(monkeypatch, capsys, args, forbid_load="a model was loaded for a run whose result was "
                    "already on disk" if forbid_load else None)


def _doc_tokens(tok, name):
    return np.array(tok((CORPUS / name).read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"])


SPECTRUM = ["real", "spectrum", "--text", CORPUS, "--histories", "10", "--futures", "6", "--history-length", "12",
            "--future-length", "3", "--k", "4", "--future-chunk", "2", "--device", "cpu", "--rule", "topk_average"]


def _windows(tok, sources, length):
    return [_doc_tokens(tok, d)[s:s + length] for d, s in sources]


def test_lingen_text_windows_are_disjoint_and_follow_the_seed(monkeypatch, capsys, model_dir, tok, tmp_path):
    """Histories, futures and the target are token windows of the corpus whose ranges never intersect; --seed moves them."""
    srcs = {}
    for seed in (0, 1):
        code, out, err = run_cli(monkeypatch, capsys, [
            "real", "lingen", "--model", model_dir, "--text", CORPUS, "--histories", "8", "--futures", "6",
            "--history-length", "10", "--future-length", "3", "--steps", "1", "--samples", "1", "--k", "4",
            "--device", "cpu", "--seed", seed, "--out", tmp_path / f"s{seed}"])
        assert code == 0, err
        rec = json.loads((tmp_path / f"s{seed}" / "result.json").read_text())
        srcs[seed] = rec["outputs"]["text_sources"]
        lengths = {"histories": 10, "futures": 3, "targets": 10}
        assert {s: len(v) for s, v in srcs[seed].items()} == {"histories": 8, "futures": 6, "targets": 1}
        spans = [(d, s, s + lengths[split], split) for split, v in srcs[seed].items() for d, s in v]
        for i, (d1, a1, b1, s1) in enumerate(spans):
            for d2, a2, b2, s2 in spans[i + 1:]:
                assert d1 != d2 or b1 <= a2 or b2 <= a1, f"{s1} [{a1},{b1}) overlaps {s2} [{a2},{b2}) in {d1}"
        # The recorded target is the window its source names, in the tokenizer's own encoding.
        (d, s), = srcs[seed]["targets"]
        np.testing.assert_array_equal(rec["outputs"]["target_tokens"], _doc_tokens(tok, d)[s:s + 10])
    assert srcs[0] != srcs[1]
    assert srcs[0]["histories"] != srcs[1]["histories"]


def test_spectrum_out_writes_inputs_outputs_csv_png(monkeypatch, capsys, model_dir, tok, tmp_path):
    """result.json records every input and the outputs; σ match the reference L(H, F) of the recorded windows,
    α matches a weighted least-squares fit written here (weights 1/i, Golowich et al. §3.1)."""
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.theory.logit_matrix import extended_logit_matrix
    out = tmp_path / "o"
    code, stdout, err = run_cli(monkeypatch, capsys, [*SPECTRUM, "--model", model_dir, "--seed", "3", "--out", out])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["ckpt", "inputs.json", "result.json", "singular_values.csv",
                                                     "spectrum.png"]
    rec = json.loads((out / "result.json").read_text())
    inp, o = rec["inputs"], rec["outputs"]
    assert rec["command"] == "real spectrum" and rec["files"] == ["singular_values.csv", "spectrum.png", "result.json"]
    for key, want in [("model", str(model_dir)), ("text", str(CORPUS)), ("histories", 10), ("futures", 6),
                      ("history_length", 12), ("future_length", 3), ("seed", 3), ("rule", "topk_average"), ("k", 4),
                      ("fit_range", [0.01, 0.5]), ("threads", None), ("twin", None), ("dtype", "float32")]:
        assert inp[key] == want, key
    import logitrank
    assert inp["package_version"] == logitrank.__version__
    assert o["threads_used"] == torch.get_num_threads()
    assert (out / "spectrum.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "singular_values.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["index", "singular_value"]
    s = np.array([float(r[1]) for r in rows[1:]])
    np.testing.assert_allclose(s, o["singular_values"], rtol=1e-12)
    # Independent: the reference (generic-path) logit matrix of the windows the record names.
    lm = HFCausalLM.load(model_dir, device="cpu")
    H = _windows(tok, o["text_sources"]["histories"], 12)
    F = _windows(tok, o["text_sources"]["futures"], 3)
    M = extended_logit_matrix(lm, H, F, rule="topk_average", k=4)
    ref = np.linalg.svd(M.values, compute_uv=False)
    np.testing.assert_allclose(s, ref[:len(s)], rtol=1e-4, atol=1e-4 * ref[0])
    lo, hi = o["fit_range"]
    i = np.arange(lo, hi + 1.0)
    w = 1.0 / i
    slope = np.polyfit(np.log(i), np.log(s[lo - 1:hi]), 1, w=np.sqrt(w))[0]
    assert o["alpha"] == pytest.approx(-slope, rel=1e-9)
    assert f"power-law alpha = {o['alpha']:.4f}" in stdout


def test_rerun_reuses_the_result_without_loading(monkeypatch, capsys, model_dir, tmp_path):
    args = [*SPECTRUM, "--model", model_dir, "--out", tmp_path / "o"]
    code, first, err = run_cli(monkeypatch, capsys, args)
    assert code == 0, err
    mtime = (tmp_path / "o" / "result.json").stat().st_mtime_ns
    code, second, err = run_cli(monkeypatch, capsys, args, forbid_load=True)
    assert code == 0, err
    assert second == first and "reusing" in err
    assert (tmp_path / "o" / "result.json").stat().st_mtime_ns == mtime


def test_ctrl_c_saves_then_rerun_resumes_to_the_same_result(monkeypatch, capsys, model_dir, tmp_path):
    """Interrupted after chunk 2 of 3: one line, exit 130; the rerun says where it resumes and ends
    with the uninterrupted run's singular values."""
    from logitrank.commands import _output
    code, _, err = run_cli(monkeypatch, capsys, [*SPECTRUM, "--model", model_dir, "--out", tmp_path / "whole"])
    assert code == 0, err
    orig = _output.ChunkProgress.__call__

    def stop_at_two(self, done, total):
        orig(self, done, total)
        if done == 2:
            raise KeyboardInterrupt

    args = [*SPECTRUM, "--model", model_dir, "--out", tmp_path / "cut"]
    with monkeypatch.context() as m:
        m.setattr(_output.ChunkProgress, "__call__", stop_at_two)
        code, _, err = run_cli(monkeypatch, capsys, args)
    assert code == 130 and "Traceback" not in err
    assert err.count(f"interrupted: saved 2/3 chunks to {tmp_path / 'cut' / 'ckpt'} — rerun the same command to "
                     f"resume\n") == 1
    assert err.count("interrupted") == 1
    code, _, err = run_cli(monkeypatch, capsys, args)
    assert code == 0, err
    assert f"resuming from chunk 2/3 in {tmp_path / 'cut' / 'ckpt'}" in err
    whole = json.loads((tmp_path / "whole" / "result.json").read_text())["outputs"]
    cut = json.loads((tmp_path / "cut" / "result.json").read_text())["outputs"]
    np.testing.assert_allclose(cut["singular_values"], whole["singular_values"], rtol=1e-10)


def test_weights_analyze_and_removal_write_tables_and_figures(monkeypatch, capsys, model_dir, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, ["weights", "analyze", "--model", model_dir, "--device", "cpu",
                                                 "--out", tmp_path / "a"])
    assert code == 0, err
    with open(tmp_path / "a" / "matrices.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 7                        # 2 blocks × q, k, v, o, gate, up, down
    rec = json.loads((tmp_path / "a" / "result.json").read_text())
    assert sum(t["n"] for t in rec["outputs"]["by_type"].values()) == 14
    assert (tmp_path / "a" / "weights.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(monkeypatch, capsys, ["weights", "removal", "--model", model_dir, "--text", CORPUS,
                                                 "--sequences", "2", "--length", "12", "--type", "up",
                                                 "--device", "cpu", "--out", tmp_path / "r"])
    assert code == 0, err
    with open(tmp_path / "r" / "delta_perplexity.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["type", *[f"D{i}" for i in range(1, 11)]] and [r[0] for r in rows[1:]] == ["up"]
    assert (tmp_path / "r" / "removal.png").is_file()


def test_reps_identity_and_synthetic_commands_write_result_json(monkeypatch, capsys, model_dir, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, ["reps", "identity", "--model", model_dir, "--out", tmp_path / "i"])
    assert code == 0, err
    o = json.loads((tmp_path / "i" / "result.json").read_text())["outputs"]
    assert o["max_rel_error"] < 1e-5 and "centered-logit identity on" in out and "{" not in out
    code, out, err = run_cli(monkeypatch, capsys, ["rank", "--vocab", "2", "--horizon", "3", "--dim", "1",
                                                   "--out", tmp_path / "r"])
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "result.json").read_text())["outputs"]["cutwise_ranks"] == [1, 1, 1]
    code, out, err = run_cli(monkeypatch, capsys, ["learn", "isan", "--vocab", "2", "--horizon", "3", "--dim", "1",
                                                   "--out", tmp_path / "l"])
    assert code == 0, err
    assert json.loads((tmp_path / "l" / "result.json").read_text())["inputs"]["dim"] == 1
    code, out, err = run_cli(monkeypatch, capsys, ["reps", "simulate", "--m", "3", "--steps", "20", "--seeds", "2",
                                                   "--seed", "4", "--out", tmp_path / "s"])
    assert code == 0, err
    rec = json.loads((tmp_path / "s" / "result.json").read_text())
    assert rec["inputs"]["seed"] == 4 and len(rec["outputs"]["final_loss"]) == 2
    assert (tmp_path / "s" / "loss.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "s" / "cosines.csv").is_file()


def test_concept_ascii_aliases():
    from logitrank.commands._options import concept_name
    from logitrank.real_models.word_pairs import WORD_PAIRS
    for alias in ("male=>female", "male->female", "male-female", "Male=>Female", "male⇒female"):
        assert concept_name(alias, WORD_PAIRS) == "male⇒female"
    assert concept_name("adj=>un+adj", WORD_PAIRS) == "adj⇒un+adj"
    assert concept_name("English-French", WORD_PAIRS) == "English⇒French"


def test_torchrun_record_matches_the_command(monkeypatch, capsys, model_dir, tmp_path):
    """The torchrun entry point (one process here) writes the command's outputs for the same inputs."""
    from logitrank.real_models.distributed import main
    code, _, err = run_cli(monkeypatch, capsys, [*SPECTRUM, "--model", model_dir, "--seed", "5",
                                                 "--out", tmp_path / "cmd"])
    assert code == 0, err
    spec = {"model": str(model_dir), "text": str(CORPUS), "seed": 5, "rule": "topk_average", "k": 4,
            "future_chunk": 2, "histories": {"source": "text", "n": 10, "length": 12},
            "futures": {"source": "text", "n": 6, "length": 3}, "progress": False}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    main([str(tmp_path / "spec.json"), str(tmp_path / "dist")])
    cmd = json.loads((tmp_path / "cmd" / "result.json").read_text())["outputs"]
    dist = json.loads((tmp_path / "dist" / "result.json").read_text())
    assert dist["inputs"]["histories"] == spec["histories"] and dist["outputs"]["world_size"] == 1
    for key in ("n_histories", "n_futures", "k", "rule", "fit_range"):
        assert dist["outputs"][key] == cmd[key], key
    np.testing.assert_allclose(dist["outputs"]["singular_values"], cmd["singular_values"], rtol=1e-6)
    assert dist["outputs"]["alpha"] == pytest.approx(cmd["alpha"], rel=1e-6)
