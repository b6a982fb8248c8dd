"""Histories and futures from model samples, text files and token shuffles."""

import numpy as np
import pytest

from _tiny_llama import tiny_llama
from logitrank.errors import InvalidInputError
from logitrank.real_models.text_sources import model_samples, text_file_lines, token_shuffled


class _CharTokenizer:
    """Bytes as tokens (mod 64), enough to test file handling."""

    bos_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [2 + (b % 62) for b in text.encode()]}

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


@pytest.fixture(scope="module")
def lm():
    m = tiny_llama(seed=4)
    m.tokenizer = _CharTokenizer()
    return m


def test_model_samples_are_seeded(lm):
    a = model_samples(lm, 5, 6, seed=1)
    b = model_samples(lm, 5, 6, seed=1)
    c = model_samples(lm, 5, 6, seed=2)
    assert len(a) == 5 and all(x.shape == (6,) for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_sampling_with_kv_reuse_matches_plain_forwards(lm):
    """The KV-reuse fast path gives the logits of full forwards (so the same samples)."""
    seqs = np.stack(model_samples(lm, 4, 5, seed=3))
    lm.clear_kv_cache()
    with_reuse = lm.next_token_logits(seqs[:, :4])
    stepped = lm.next_token_logits(seqs)            # each row = a cached prefix + one token
    lm.kv_reuse = False
    try:
        np.testing.assert_allclose(lm.next_token_logits(seqs), stepped, atol=1e-4)
        np.testing.assert_allclose(lm.next_token_logits(seqs[:, :4]), with_reuse, atol=1e-4)
    finally:
        lm.kv_reuse = True


def test_text_file_lines(lm, tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("hello world\n\nab\nthe quick brown fox\n", encoding="utf-8")
    lines = text_file_lines(lm, p, min_length=3)
    assert [len(x) for x in lines] == [11, 19]
    assert [len(x) for x in text_file_lines(lm, p, length=5)] == [5, 5]


def test_empty_or_missing_file_errors(lm, tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("  \n\n")
    with pytest.raises(InvalidInputError, match="empty"):
        text_file_lines(lm, empty)
    with pytest.raises(InvalidInputError, match="does not exist"):
        text_file_lines(lm, tmp_path / "nope.txt")


def test_token_shuffled_is_a_permutation():
    seqs = [np.arange(10), np.arange(3, 9)]
    out = token_shuffled(seqs, seed=0)
    assert all(sorted(a.tolist()) == sorted(b.tolist()) for a, b in zip(seqs, out))
    assert not np.array_equal(out[0], seqs[0])
    assert all(np.array_equal(a, b) for a, b in zip(out, token_shuffled(seqs, seed=0)))
