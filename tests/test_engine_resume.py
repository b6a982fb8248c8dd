"""Checkpointed streaming: a killed run resumes to the identical result."""

import numpy as np
import pytest

from _tiny_llama import tiny_llama
from logitrank.errors import ResumeError
from logitrank.real_models.engine import LogitMatrixEngine


class _Killed(Exception):
    """Stands for the process dying between two chunks."""


def _kill_after(n_chunks):
    def on_chunk(done, total):
        if done >= n_chunks:
            raise _Killed
    return on_chunk


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(5)
    H = [rng.integers(2, 64, size=4) for _ in range(7)]
    F = [rng.integers(2, 64, size=n) for n in [1, 2, 3, 2, 1, 3, 2, 2, 1, 3]]
    return tiny_llama(seed=2), H, F


@pytest.mark.parametrize("rule", ["topk_average", "random"])
def test_resume_after_interruption_is_identical(setup, tmp_path, rule):
    lm, H, F = setup
    eng = LogitMatrixEngine(lm, future_chunk=3, progress=False)
    full = eng.gram(H, F, rule=rule, k=4, rng=np.random.default_rng(9), run_dir=tmp_path / "whole")
    with pytest.raises(_Killed):
        eng.gram(H, F, rule=rule, k=4, rng=np.random.default_rng(9), run_dir=tmp_path / "cut",
                 on_chunk=_kill_after(2))
    saved = np.load(tmp_path / "cut" / "state-r0of1.npz")
    assert int(saved["chunks_done"]) == 2                   # really interrupted, after chunk 2
    assert not np.array_equal(saved["gram"], full.gram)
    assert not (tmp_path / "cut" / "done-r0of1.json").exists()
    fresh = LogitMatrixEngine(lm, future_chunk=3, progress=False)   # a new process, as after a kill
    calls = []
    resumed = fresh.gram(H, F, rule=rule, k=4, rng=np.random.default_rng(9), run_dir=tmp_path / "cut",
                         on_chunk=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 4), (4, 4)]                         # only the missing chunks ran
    np.testing.assert_array_equal(resumed.gram, full.gram)
    np.testing.assert_array_equal(resumed.singular_values(), full.singular_values())
    np.testing.assert_array_equal(resumed.column_tokens, full.column_tokens)
    assert (tmp_path / "cut" / "done-r0of1.json").exists()


def test_resume_with_other_inputs_is_refused(setup, tmp_path):
    lm, H, F = setup
    eng = LogitMatrixEngine(lm, future_chunk=3, progress=False)
    with pytest.raises(_Killed):
        eng.gram(H, F, rule="topk_average", k=4, run_dir=tmp_path, on_chunk=_kill_after(1))
    with pytest.raises(ResumeError, match="different inputs"):
        eng.gram(H, F[:-1], rule="topk_average", k=4, run_dir=tmp_path)
    with pytest.raises(ResumeError):
        eng.gram(H, F, rule="topk_average", k=5, run_dir=tmp_path)
