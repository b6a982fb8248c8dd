"""Every bad input of issue 14 through the real entry point: one line, exit code 2, no traceback.

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
