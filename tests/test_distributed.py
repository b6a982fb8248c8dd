"""Two torchrun processes (gloo, CPU) give the same L(H, F) spectrum as one process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from _tiny_llama import tiny_llama
from logitrank.real_models.distributed import load_spec_model, run_spec, spec_sequences
from logitrank.real_models.engine import LogitMatrixEngine


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    lm = tiny_llama(seed=3)
    lm.model.save_pretrained(root / "model")
    rng = np.random.default_rng(1)
    return root, {"model": str(root / "model"), "no_tokenizer": True, "prefix_tokens": [0],
                  "histories": [rng.integers(2, 64, size=n).tolist() for n in [3, 4, 4, 2, 5, 3]],
                  "futures": [rng.integers(2, 64, size=n).tolist() for n in [1, 2, 0, 3, 2, 1, 2, 3, 1]],
                  "rule": "topk_average", "k": 5, "future_chunk": 2, "progress": False}


def test_torchrun_two_processes_equals_one(spec):
    root, sp = spec
    (root / "spec.json").write_text(json.dumps(sp))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
           "-m", "logitrank.real_models.distributed", str(root / "spec.json"), str(root / "out2")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    two = np.load(root / "out2" / "result.npz")
    assert json.loads((root / "out2" / "result.json").read_text())["outputs"]["world_size"] == 2
    lm = load_spec_model(sp, device="cpu")
    one = LogitMatrixEngine(lm, future_chunk=2, progress=False).gram(
        spec_sequences(lm, sp["histories"]), spec_sequences(lm, sp["futures"]), rule="topk_average", k=5)
    np.testing.assert_array_equal(two["column_tokens"], one.column_tokens)
    s1 = one.singular_values()
    # float32 forwards round differently with another thread count (1 per worker here), so
    # agreement is to float32 tolerance, not bitwise; the all-reduce itself is float64.
    assert np.abs(two["singular_values"] - s1).max() / s1[0] < 1e-5
    np.testing.assert_allclose(two["gram"], one.gram, rtol=1e-5, atol=1e-5 * np.abs(one.gram).max())


def test_single_process_spec_runs_without_torchrun(spec):
    root, sp = spec
    g = run_spec(sp, root / "out1")
    assert np.load(root / "out1" / "result.npz")["singular_values"].shape == (6,)
    assert g.n_futures == 9


@pytest.mark.slow
def test_torchrun_bad_spec_is_one_error_from_rank_0(spec):
    """Two processes, a spec without histories: one `error:` line (rank 0 only), no Python traceback of ours."""
    root, sp = spec
    bad = {k: v for k, v in sp.items() if k != "histories"}
    (root / "bad.json").write_text(json.dumps(bad))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29534",
           "-m", "logitrank.real_models.distributed", str(root / "bad.json"), str(root / "bad-out")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert errors == ["error: the spec has no 'histories'; give token lists or {\"source\": \"text\", \"n\": N, "
                      "\"length\": L} (see the example spec in `python -m pydoc logitrank.real_models.distributed`)"]
    assert "KeyError" not in res.stderr and "logitrank/" not in res.stderr.split("ChildFailedError")[0]
    assert not (root / "bad-out").exists()
