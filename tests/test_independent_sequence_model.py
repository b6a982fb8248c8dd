"""The SequenceModel interface (theory/sequence_model.py) pinned by hand.

Prefix validation, the output checks of ``next_token_logits`` and ``sample`` (an
autoregressive loop of inverse-CDF draws, one ``rng.random(n)`` per step, Def. 2.1 of
Golowich et al. 2025 for the centered logits) are checked on small explicit cases.
"""

import numpy as np
import pytest

from logitrank.errors import InvalidInputError, ModelOutputError
from logitrank.theory.sequence_model import SequenceModel, as_prefix_batch, center_logits, log_softmax


class _Counting(SequenceModel):
    """V = 3, T = 4: logits depend on the prefix's sum and length (distinct at every prefix)."""
    vocab_size, horizon = 3, 4

    def _logits(self, prefixes):
        s = prefixes.sum(axis=1, keepdims=True).astype(float)
        t = prefixes.shape[1]
        return np.concatenate([np.zeros_like(s), 0.7 * s - 0.3 * t, 1.1 - 0.5 * s + 0.2 * t], axis=1)


class _Broken(SequenceModel):
    vocab_size, horizon = 2, 3

    def __init__(self, out):
        self.out = out

    def _logits(self, prefixes):
        return self.out(prefixes)


def test_as_prefix_batch_accepts_and_converts():
    np.testing.assert_array_equal(as_prefix_batch([[1, 2], [0, 0]]), [[1, 2], [0, 0]])
    assert as_prefix_batch([[1, 2]]).dtype == np.int64
    assert as_prefix_batch([[]]).shape == (1, 0) and as_prefix_batch([[], []]).shape == (2, 0)
    assert as_prefix_batch(np.zeros((3, 0), int)).shape == (3, 0)
    assert as_prefix_batch(np.array([[1.0, 2.0]])).dtype == np.int64          # integral floats are tokens
    assert as_prefix_batch([(0, 1)], vocab_size=2).tolist() == [[0, 1]]      # tuples are sequences
    np.testing.assert_array_equal(as_prefix_batch(np.array([[4, 0]]), vocab_size=5), [[4, 0]])


@pytest.mark.parametrize("bad, vocab, message", [
    ("ab", None, r"^prefixes must be a sequence of token sequences or a 2-D integer array, got str$"),
    (5, None, r"got int$"),
    ([[1], [1, 2]], None, r"^ragged prefix batch: prefixes have lengths \[1, 2\]; a batch must"),
    (np.zeros(0), None, r"^empty prefix batch: pass at least one prefix \(the empty prefix is written \[\[\]\]\)$"),
    ([], None, r"^empty prefix batch"),
    (np.zeros(3, int), None, r"^prefixes must form a 2-D array \(n_prefixes, length\), got shape \(3,\)$"),
    (np.array([[0.5]]), None, r"^tokens must be integers, got dtype float64$"),
    (np.array([[np.inf]]), None, r"^tokens must be integers, got dtype float64$"),
    ([[0, 5]], 5, r"^token 5 at prefix 0, position 1 is outside the vocabulary \[0, 5\); map tokens"),
    ([[0, 1], [-1, 0]], 5, r"^token -1 at prefix 1, position 0 is outside"),
])
def test_as_prefix_batch_rejects(bad, vocab, message):
    with pytest.raises(InvalidInputError, match=message):
        as_prefix_batch(bad, vocab)


def test_validate_prefixes_horizon_boundary():
    m = _Counting()
    assert m.validate_prefixes([[0, 1, 2]]).shape == (1, 3)                  # length T − 1 is allowed
    with pytest.raises(InvalidInputError, match=r"^prefix length 4 is out of range for a model of horizon "
                                                r"T=4: next-token logits exist for lengths 0\.\.3$"):
        m.validate_prefixes([[0, 1, 2, 0]])


def test_next_token_logits_values_and_output_checks():
    m = _Counting()
    got = m.next_token_logits([[2, 1], [0, 0]])
    np.testing.assert_allclose(got, [[0, 0.7 * 3 - 0.6, 1.1 - 1.5 + 0.4], [0, -0.6, 1.5]])
    assert got.dtype == np.float64
    np.testing.assert_allclose(m.centered_logits([[2, 1]]), center_logits(got[:1]))
    np.testing.assert_allclose(m.log_probs([[2, 1]]), got[:1] - np.log(np.exp(got[:1]).sum()))
    with pytest.raises(ModelOutputError, match=r"^_Broken returned logits of shape \(1, 3\), expected \(1, 2\)$"):
        _Broken(lambda p: np.zeros((len(p), 3))).next_token_logits([[0]])
    with pytest.raises(ModelOutputError, match=r"^_Broken returned a non-finite logit for prefix \[1, 1\]; check"):
        _Broken(lambda p: np.where(p.sum(1, keepdims=True) == 2, np.nan, np.zeros((len(p), 2)))
                ).next_token_logits([[0, 1], [1, 1]])
    with pytest.raises(ModelOutputError, match=r"for prefix \[0\]"):
        _Broken(lambda p: np.array([[np.inf, 0.0]])).next_token_logits([[0]])


def _replay(m, seqs, length, rng):
    out = np.array(seqs, dtype=np.int64).reshape(len(seqs), -1)
    for _ in range(length):
        p = np.exp(log_softmax(m._logits(out)))
        u = rng.random(len(out))
        tok = np.array([np.searchsorted(np.cumsum(row), x, side="right") for row, x in zip(p, u)])
        out = np.concatenate([out, np.minimum(tok, m.vocab_size - 1)[:, None]], axis=1)
    return out


def test_sample_is_the_autoregressive_inverse_cdf_loop():
    m = _Counting()
    got = m.sample(6, 4, np.random.default_rng(3))
    want = _replay(m, np.zeros((6, 0), int), 4, np.random.default_rng(3))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64 and got.shape == (6, 4)
    # a prompt (one prefix, broadcast; or one per row) is conditioned on and not returned
    got = m.sample(3, 2, np.random.default_rng(4), prompt=[2, 1])
    np.testing.assert_array_equal(got, _replay(m, [[2, 1]] * 3, 2, np.random.default_rng(4))[:, 2:])
    prompts = np.array([[0], [1], [2]])
    got = m.sample(3, 3, np.random.default_rng(5), prompt=prompts)
    np.testing.assert_array_equal(got, _replay(m, prompts, 3, np.random.default_rng(5))[:, 1:])
    assert m.sample(2, 0, np.random.default_rng(0)).shape == (2, 0)
    assert m.sample(1, 1, np.random.default_rng(0), prompt=[[0, 1, 2]]).shape == (1, 1)   # fills the horizon


@pytest.mark.parametrize("kw, message", [
    ({"n": 2, "length": 1, "rng": 0}, r"^rng must be a numpy.random.Generator, e.g. np.random.default_rng\(seed\)$"),
    ({"n": 0, "length": 1}, r"^need n >= 1 and length >= 0, got n=0, length=1$"),
    ({"n": 1, "length": -1}, r"^need n >= 1 and length >= 0, got n=1, length=-1$"),
    ({"n": 2, "length": 1, "prompt": [[0], [1], [2]]}, r"^prompt batch has 3 rows, expected 1 or n=2$"),
    ({"n": 1, "length": 5}, r"^cannot sample 5 tokens after a prefix of length 0: the model's horizon is T=4$"),
    ({"n": 1, "length": 2, "prompt": [0, 0, 0]}, r"after a prefix of length 3"),
])
def test_sample_rejects(kw, message):
    kw = {"rng": np.random.default_rng(0), **kw}
    with pytest.raises(InvalidInputError, match=message):
        _Counting().sample(**kw)


def test_model_checks_token_range_and_log_softmax_shifts_per_row():
    with pytest.raises(InvalidInputError, match=r"^token 3 at prefix 0, position 0 is outside the vocabulary \[0, 3\)"):
        _Counting().next_token_logits([[3]])
    np.testing.assert_allclose(log_softmax(np.array([[1000.0, 1000.0], [0.0, 0.0]])), np.log(0.5))
