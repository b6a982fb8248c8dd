"""Every bad input through the real entry point: one line, exit code 2, no traceback.

Each case runs ``logitrank.cli.main`` (the console script) with the model loader replaced by
one that fails the test if it is reached: everything must be rejected before a model loads.
Where the case passes ``--out DIR``, nothing a rerun would trust (``result.json``) is left.
"""

import json

import pytest
import torch
from _tiny_model_dir import run_cli as _run_cli
from _tiny_model_dir import save_tiny_llama_dir

from logitrank.real_models import loading


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_llama_dir(tmp_path_factory.mktemp("cli-bad") / "tiny")


def run_cli(monkeypatch, capsys, args, *, load=False):
    """Run the console script with ``args``; (exit code, stdout, stderr). Unless ``load``, reaching
    the model loader fails the test (every error here must come before loading)."""
    return _run_cli(monkeypatch, capsys, args,
                    forbid_load=None if load else "the model loader was reached before validation failed")


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


def _gguf_truncated(tmp_path):
    """The packaged SmolLM2 GGUF cut after 3 MB: a complete header, tensors missing."""
    src = loading.packaged_model_path(loading.SMOLLM2)
    p = tmp_path / "cut.gguf"
    with open(src, "rb") as fh:
        p.write_bytes(fh.read(3_000_000))
    return p


CUDA_CASES = [["real", "spectrum"], ["real", "lingen"], ["weights", "analyze"], ["weights", "removal"],
              ["reps", "cosines"]]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("command", CUDA_CASES, ids=lambda c: " ".join(c))
def test_device_cuda_without_cuda(monkeypatch, capsys, model_dir, tmp_path, command):
    code, _, err = run_cli(monkeypatch, capsys, [*command, "--model", model_dir, "--device", "cuda",
                                                 "--out", tmp_path / "o"])
    assert_one_line_error(code, err, "CUDA is not available", "--device cpu")
    assert not (tmp_path / "o").exists()


def test_out_at_an_existing_file(monkeypatch, capsys, model_dir, tmp_path):
    f = tmp_path / "taken.txt"
    f.write_text("mine")
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", model_dir, "--out", f])
    assert_one_line_error(code, err, "is an existing file", "directory")
    assert f.read_text() == "mine"


def test_out_at_a_foreign_nonempty_directory(monkeypatch, capsys, model_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli(monkeypatch, capsys, ["reps", "identity", "--model", model_dir, "--out", tmp_path])
    assert_one_line_error(code, err, "non-empty directory without a logitrank run")


def test_steer_alphas_not_numbers(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, ["reps", "steer", "--alphas", "0,abc", "--out", tmp_path / "o"])
    assert_one_line_error(code, err, "'abc' is not a number")
    assert not (tmp_path / "o").exists()


def test_steer_unknown_concept_lists_ascii_names(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, ["reps", "steer", "--concept", "happy=>sad"])
    assert_one_line_error(code, err, "unknown concept", "male=>female")


def test_directory_without_config_json(monkeypatch, capsys, tmp_path):
    (tmp_path / "empty_model").mkdir()
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", tmp_path / "empty_model"])
    assert_one_line_error(code, err, "has no config.json")
    assert "model_type" not in err


def test_truncated_gguf_is_named_truncated(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, ["weights", "analyze", "--model", _gguf_truncated(tmp_path)])
    assert_one_line_error(code, err, "truncated")


def test_gguf_shorter_than_its_header(monkeypatch, capsys, tmp_path):
    p = tmp_path / "stub.gguf"
    p.write_bytes(b"GGUF\x03\x00")
    code, _, err = run_cli(monkeypatch, capsys, ["reps", "identity", "--model", p])
    assert_one_line_error(code, err, "not a complete GGUF file")


@pytest.mark.parametrize("args, needle", [
    (["real", "spectrum", "--rule", "bogus"], "unknown --rule 'bogus'"),
    (["real", "lingen", "--rule", "bogus"], "unknown --rule 'bogus'"),
    (["real", "spectrum", "--k", "0"], "--k must be >= 1"),
    (["real", "lingen", "--k", "-3"], "--k must be >= 1"),
    (["real", "spectrum", "--histories", "0"], "--histories must be >= 1"),
    (["real", "spectrum", "--fit-range", "0.5", "0.1"], "need 0 < lo < hi"),
    (["real", "spectrum", "--histories", "4", "--fit-range", "0.01", "0.5"], "leaves 1 singular values of 4"),
    (["real", "spectrum", "--threads", "0"], "--threads must be >= 1"),
    (["real", "spectrum", "--dtype", "int7"], "unknown dtype 'int7'"),
    (["real", "lingen", "--target", ""], "--target is empty"),
    (["real", "spectrum", "--text", "no/such/file.txt"], "no such file or directory"),
    (["weights", "removal", "--sequences", "0"], "--sequences must be >= 1"),
    (["weights", "removal", "--type", "mlp_up"], "unknown --type 'mlp_up'; choose from query, key"),
    (["reps", "identity", "--prompt", " "], "--prompt is empty"),
    (["real", "spectrum", "--save-matrix"], "--save-matrix needs --out"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_option_values(monkeypatch, capsys, model_dir, args, needle):
    code, _, err = run_cli(monkeypatch, capsys, [*args, "--model", model_dir])
    assert_one_line_error(code, err, needle)


def test_model_neither_path_nor_hub_id(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, ["real", "lingen", "--model", "./nowhere"])
    assert_one_line_error(code, err, "neither an existing path nor a hub id")


def test_text_directory_without_txt(monkeypatch, capsys, model_dir, tmp_path):
    (tmp_path / "a.md").write_text("# not text")
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", model_dir, "--text", tmp_path])
    assert_one_line_error(code, err, "has no .txt files")


def test_out_dir_mismatch_before_loading(monkeypatch, capsys, model_dir, tmp_path):
    """A complete run in DIR, then the same command with another --k: the package's error, nothing loaded."""
    args = ["real", "spectrum", "--model", model_dir, "--histories", "8", "--futures", "4", "--history-length", "6",
            "--k", "3", "--device", "cpu", "--out", tmp_path / "o"]
    code, _, err = run_cli(monkeypatch, capsys, args, load=True)
    assert code == 0, err
    before = (tmp_path / "o" / "result.json").read_text()
    code, _, err = run_cli(monkeypatch, capsys, [*args, "--k", "4"])
    assert_one_line_error(code, err, "different inputs", "k differ")
    assert (tmp_path / "o" / "result.json").read_text() == before
    code, _, err = run_cli(monkeypatch, capsys, ["reps", "identity", "--model", model_dir, "--out", tmp_path / "o"])
    assert_one_line_error(code, err, "holds a result of `logitrank real spectrum`")


def test_interrupted_run_leaves_no_result_and_mismatch_is_checked_against_it(monkeypatch, capsys, model_dir,
                                                                           tmp_path):
    """A killed run leaves inputs.json and checkpoints but no result.json; other inputs are refused."""
    from logitrank.commands import _output
    calls = {"n": 0}
    orig = _output.ChunkProgress.__call__

    def stop_after_one(self, done, total):
        orig(self, done, total)
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(_output.ChunkProgress, "__call__", stop_after_one)
    args = ["real", "spectrum", "--model", model_dir, "--histories", "8", "--futures", "6", "--history-length", "6",
            "--k", "3", "--future-chunk", "2", "--device", "cpu", "--out", tmp_path / "o"]
    code, _, err = run_cli(monkeypatch, capsys, args, load=True)
    assert code == 130 and "Traceback" not in err
    assert f"saved 1/3 chunks to {tmp_path / 'o' / 'ckpt'}" in err and "rerun the same command to resume" in err
    assert not (tmp_path / "o" / "result.json").exists()
    code, _, err = run_cli(monkeypatch, capsys, [*args[:-1], tmp_path / "o", "--seed", "1"])
    assert_one_line_error(code, err, "different inputs", "seed")


def test_torchrun_spec_without_histories(capsys, model_dir, tmp_path):
    from logitrank.real_models import distributed
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model": str(model_dir), "futures": [[3, 4]], "k": 2}))
    with pytest.raises(SystemExit) as info:
        distributed.main([str(spec), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert_one_line_error(info.value.code, err, "has no 'histories'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("patch, needle", [
    ({"rule": "bogus"}, "unknown rule 'bogus'"),
    ({"k": 0}, "k must be an integer >= 1"),
    ({"histories": {"source": "text", "n": 4, "length": 8}}, "has no \"text\""),
    ({"histories": {"source": "windows", "n": 4, "length": 8}}, "unknown source 'windows'"),
    ({"model": "/no/such/model"}, "neither an existing path"),
])
def test_torchrun_spec_bad_values(capsys, model_dir, tmp_path, patch, needle):
    from logitrank.real_models import distributed
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model": str(model_dir), "histories": [[3, 4]], "futures": [[3, 4]], **patch}))
    with pytest.raises(SystemExit) as info:
        distributed.main([str(spec), str(tmp_path / "out")])
    assert_one_line_error(info.value.code, capsys.readouterr().err, needle)


def test_more_processes_than_cuda_devices():
    from logitrank.errors import InvalidInputError
    from logitrank.real_models.distributed import validate_spec
    spec = {"model": "smollm2", "histories": [[3]], "futures": [[4]]}
    with pytest.raises(InvalidInputError, match="2 processes but 1 CUDA device; use torchrun --nproc-per-node 1"):
        validate_spec(spec, world=2, cuda_devices=1)
    assert validate_spec(spec, world=2, cuda_devices=0) is spec       # CPU (gloo): any number of processes


def test_a_failed_run_does_not_block_its_out_dir(monkeypatch, capsys, model_dir, tmp_path):
    """An error after the model loaded (corpus too small) leaves inputs.json only; a corrected rerun proceeds."""
    base = ["real", "spectrum", "--model", model_dir, "--text", tmp_path / "short.txt", "--history-length", "6",
            "--futures", "4", "--k", "3", "--device", "cpu", "--out", tmp_path / "o"]
    (tmp_path / "short.txt").write_text("To be, or not to be, that is the question.\n" * 40)   # 4 segments
    code, _, err = run_cli(monkeypatch, capsys, [*base, "--histories", "400"], load=True)
    assert_one_line_error(code, err, "cannot hold the requested windows")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["inputs.json"]
    code, _, err = run_cli(monkeypatch, capsys, [*base, "--histories", "4", "--fit-range", "2", "4"], load=True)
    assert code == 0, err
    assert json.loads((tmp_path / "o" / "result.json").read_text())["inputs"]["histories"] == 4


# --- checked before anything loads, allocates or is written --------------------------------------
@pytest.fixture(scope="module")
def bare_model_dir(tmp_path_factory):
    """The tiny Llama saved without its tokenizer."""
    from _tiny_llama import tiny_llama
    path = tmp_path_factory.mktemp("cli-bare") / "bare"
    tiny_llama(seed=3).model.save_pretrained(path)
    return path


def _text_file(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("make, needle", [
    (lambda d: _text_file(d, "empty.txt", b""), "is empty"),
    (lambda d: _text_file(d, "blank.txt", b"  \n\n \t\n"), "is empty"),
    (lambda d: _text_file(d, "data.txt", b"ab\x00\x01cd" * 100), "looks binary"),
    (lambda d: _text_file(d, "latin1.txt", "Ça dépend, déjà vu.\n".encode("latin-1") * 50), "not valid UTF-8"),
], ids=["empty", "whitespace", "binary", "latin-1"])
@pytest.mark.parametrize("command", [["real", "spectrum"], ["real", "lingen"], ["weights", "removal"]],
                         ids=lambda c: " ".join(c))
def test_unreadable_text_is_refused_before_loading(monkeypatch, capsys, model_dir, tmp_path, make, needle, command):
    code, _, err = run_cli(monkeypatch, capsys, [*command, "--model", model_dir, "--text", make(tmp_path),
                                                 "--out", tmp_path / "o"])
    assert_one_line_error(code, err, "--text", needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, needle", [
    (["real", "spectrum", "--k", "65"], "--k 65 exceeds the vocabulary of"),
    (["real", "lingen", "--k", "100000"], "--k 100000 exceeds the vocabulary"),
    (["real", "spectrum", "--history-length", "100000"], "exceeds the context window"),
    (["real", "spectrum", "--history-length", "60", "--future-length", "4"], "= 65 tokens per query exceeds"),
    (["real", "lingen", "--history-length", "40", "--steps", "30"], "--steps 30"),
    (["weights", "removal", "--length", "65"], "--length 65 = 65 tokens per query exceeds"),
    (["real", "spectrum", "--twin", "-1"], "--twin -1: the twin's seed must be >= 0"),
    (["real", "spectrum", "--histories", "2"], "has 2 singular value(s); the power-law fit needs at least 3: "
                                               "raise --histories"),
    (["real", "spectrum", "--histories", "8", "--futures", "2", "--k", "3", "--fit-range", "2", "500"],
     "reaches index 500 but there are only 6 singular values"),
    (["real", "spectrum", "--histories", "100000"], "needs about 149.5 GiB"),
    (["real", "spectrum", "--device", "cpu", "--out", "/proc/logitrank-out"], "cannot write there"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_sizes_checked_against_the_model_and_the_machine(monkeypatch, capsys, model_dir, tmp_path, args, needle):
    from logitrank.real_models import runtime
    monkeypatch.setattr(runtime, "available_memory", lambda device=None: 64 * 2**30)    # any machine alike
    code, _, err = run_cli(monkeypatch, capsys, [*args, "--model", model_dir])
    assert_one_line_error(code, err, needle)


def test_out_below_a_file_is_refused_and_nothing_written(monkeypatch, capsys, model_dir, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    code, _, err = run_cli(monkeypatch, capsys, ["reps", "identity", "--model", model_dir, "--out", f / "o"])
    assert_one_line_error(code, err, "cannot write there")
    assert f.read_text() == "mine"


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_device_mps_without_mps(monkeypatch, capsys, model_dir, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", model_dir, "--device", "mps",
                                                 "--out", tmp_path / "o"])
    assert_one_line_error(code, err, "no MPS", "--device cpu")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--offset", "600"], "--offset 600 + the histories length 20 exceed a text segment (512 tokens"),
    (["--stride", "1000"], "--stride 1000 is larger than a text segment leaves room for"),
    (["--stride", "5"], "stride 5 < window length 20"),
], ids=["offset", "stride-large", "stride-small"])
def test_windows_checked_against_text_segments_before_loading(monkeypatch, capsys, model_dir, tmp_path, extra, needle):
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", model_dir, "--text",
                                                 "tests/data/corpus", *extra])
    assert_one_line_error(code, err, needle)
    assert "segment_tokens" not in err


def test_memory_estimate_counts_gram_and_kv_bank(monkeypatch):
    """Gram (float64, |H|², twice) plus every history's K and V: |H|·(len + 1)·layers·2·kv_heads·head_dim·4 bytes."""
    from logitrank.commands._options import check_logit_matrix_memory
    from logitrank.errors import InvalidInputError
    from logitrank.real_models import runtime
    cfg = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2}
    need = 2 * 8 * 1000 ** 2 + 1000 * 10 * 2 * 2 * 2 * 8 * 4
    kw = dict(histories=1000, history_length=9, columns=50, dtype="float32", device="cpu", gram=True)
    monkeypatch.setattr(runtime, "available_memory", lambda device=None: need)
    check_logit_matrix_memory(cfg, **kw)
    monkeypatch.setattr(runtime, "available_memory", lambda device=None: need - 1)
    with pytest.raises(InvalidInputError, match="KV cache"):
        check_logit_matrix_memory(cfg, **kw)
    monkeypatch.setattr(runtime, "available_memory", lambda device=None: 8 * 1000 * 50)   # matrix, no config
    check_logit_matrix_memory(None, **{**kw, "gram": False})


def test_model_directory_without_tokenizer(monkeypatch, capsys, bare_model_dir, tmp_path):
    for command in (["real", "lingen"], ["real", "spectrum", "--text", "tests/data/corpus"], ["reps", "identity"]):
        code, _, err = run_cli(monkeypatch, capsys, [*command, "--model", bare_model_dir, "--out", tmp_path / "o"])
        assert_one_line_error(code, err, "has no tokenizer", "tokenizer.save_pretrained")
        assert not (tmp_path / "o").exists()


def test_hub_id_without_owner_is_a_hub_id_looked_up_in_the_local_cache(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", "gpt2"])
    assert_one_line_error(code, err, "hub id 'gpt2' is not in the local Hugging Face cache")
    assert "owner/name" not in err
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", "not a model!"])
    assert_one_line_error(code, err, "neither an existing path nor a hub id (name or owner/name)")


def test_checkpoint_names_without_a_step(monkeypatch, capsys, model_dir, tmp_path):
    import shutil
    for name in ("run", "run_final"):
        shutil.copytree(model_dir, tmp_path / name)
    code, _, err = run_cli(monkeypatch, capsys, ["checkpoints", tmp_path / "run", tmp_path / "run_final",
                                                 "--out", tmp_path / "o"])
    assert_one_line_error(code, err, "cannot tell the training step of", "step-N")
    assert not (tmp_path / "o").exists()


def test_distributed_without_arguments_exits_2(capsys):
    from logitrank.real_models import distributed
    with pytest.raises(SystemExit) as info:
        distributed.main([])
    assert_one_line_error(info.value.code, capsys.readouterr().err, "expected SPEC.json and OUT_DIR", "usage:")


@pytest.mark.parametrize("patch, needle", [
    ({"kk": 5}, "unknown spec key(s) 'kk'"),
    ({"futures": {"source": "samples", "n": 2, "length": 3, "lenght": 4}}, "futures: unknown key(s) 'lenght'"),
    ({"model": None}, "has no \"model\""),
    ({"k": 3, "fit_range": [2, 500]}, "reaches index 500 but L(H, F) has 1 singular values"),
])
def test_torchrun_spec_silent_substitutions_are_errors(capsys, model_dir, tmp_path, patch, needle):
    from logitrank.real_models import distributed
    spec = {"model": str(model_dir), "histories": [[3, 4]], "futures": [[3, 4]], **patch}
    spec = {k: v for k, v in spec.items() if v is not None}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(SystemExit) as info:
        distributed.main([str(tmp_path / "spec.json"), str(tmp_path / "out")])
    assert_one_line_error(info.value.code, capsys.readouterr().err, needle)
    assert not (tmp_path / "out").exists()


def test_load_refuses_a_model_object_and_train_mode_becomes_eval():
    import numpy as np
    from _tiny_llama import tiny_llama

    from logitrank.errors import InvalidInputError
    from logitrank.real_models.adapter import HFCausalLM
    lm = tiny_llama(seed=1, attention_dropout=0.5)
    with pytest.raises(InvalidInputError, match="takes a name or a path, got a LlamaForCausalLM"):
        HFCausalLM.load(lm.model)
    lm.model.train()
    wrapped = HFCausalLM(lm.model, None, prefix_tokens=[0])
    assert not wrapped.model.training
    a, b = (wrapped.next_token_logits([[1, 2, 3, 4]]) for _ in range(2))
    assert np.array_equal(a, b)


def test_without_a_config_on_disk_the_loaded_model_is_checked_before_any_work(monkeypatch, capsys, model_dir,
                                                                               tmp_path):
    """A GGUF not yet dequantised has no config.json to read: the same check runs right after loading."""
    from logitrank.commands import _options
    from logitrank.real_models import engine
    monkeypatch.setattr(_options, "model_config", lambda model: None)
    monkeypatch.setattr(engine.LogitMatrixEngine, "gram", lambda *a, **k: pytest.fail("work started"))
    for args, needle in ((["--history-length", "70"], "exceeds the context window"),
                         (["--k", "65"], "--k 65 exceeds the vocabulary")):
        code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", "--model", model_dir, "--device", "cpu",
                                                     *args, "--out", tmp_path / args[0]], load=True)
        assert_one_line_error(code, err, needle)
        assert sorted(p.name for p in (tmp_path / args[0]).iterdir()) == ["inputs.json"]


def test_checkpoints_out_that_cannot_be_written(monkeypatch, capsys, model_dir, tmp_path):
    import shutil
    for name in ("step-1", "step-2"):
        shutil.copytree(model_dir, tmp_path / name)
    code, _, err = run_cli(monkeypatch, capsys, ["checkpoints", tmp_path / "step-1", tmp_path / "step-2", "--text",
                                                 "tests/data/corpus", "--n-histories", "4", "--n-futures", "2",
                                                 "--k", "3", "--out", "/proc/logitrank-out"])
    assert_one_line_error(code, err, "cannot write there")


@pytest.mark.parametrize("args, needle", [
    (["--k", "50000"], "--k 50000 exceeds the vocabulary of smollm2 (49152 tokens)"),
    (["--history-length", "8190"], "= 8195 tokens per query exceeds the context window of smollm2 (8192 tokens)"),
    (["--text", "tests/data/corpus", "--stride", "600"], "--stride 600 is larger than a text segment"),
], ids=["k", "context", "stride"])
def test_embedded_model_checked_before_loading_smollm2(monkeypatch, capsys, tmp_path, args, needle):
    """Before its first load (no dequantised copy cached), SmolLM2's sizes come from its GGUF metadata."""
    monkeypatch.setenv("LOGITRANK_CACHE", str(tmp_path / "empty-cache"))
    code, _, err = run_cli(monkeypatch, capsys, ["real", "spectrum", *args])
    assert_one_line_error(code, err, needle)
    assert "loading smollm2" not in err
