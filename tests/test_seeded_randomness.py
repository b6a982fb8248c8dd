"""Every helper whose output is "random" is a seeded random draw: it depends on the seed, and is
neither the identity nor one fixed rearrangement that ignores the seed.

Each test would fail for a stand-in that reverses, sorts, rotates or takes the first items, or
for one that draws once and reuses that draw for every seed or every sequence.
"""

import numpy as np
from _tiny_llama import tiny_llama

from logitrank.real_models.corpus import read_corpus
from logitrank.real_models.loading import random_init_twin
from logitrank.real_models.text_sources import model_samples, token_shuffled
from logitrank.theory.logit_matrix import choose_column_tokens

CORPUS = "tests/data/corpus"


def _perm_of(shuffled, original):
    """The permutation p with shuffled == original[p] (tokens distinct)."""
    where = {int(t): i for i, t in enumerate(original)}
    return tuple(where[int(t)] for t in shuffled)


def test_token_shuffled_is_a_seeded_random_permutation():
    seqs = [np.arange(10 * i, 10 * i + 8) for i in range(30)]             # distinct tokens, length 8
    out = token_shuffled(seqs, seed=0)
    perms = [_perm_of(o, s) for o, s in zip(out, seqs)]
    assert all(sorted(p) == list(range(8)) for p in perms)                   # a permutation of each sequence
    assert all(p != tuple(range(8)) for p in perms)                          # not the identity (P = 30/8!)
    assert len(set(perms)) == 30                                             # not one fixed reordering
    assert [o.tolist() for o in token_shuffled(seqs, seed=0)] == [o.tolist() for o in out]   # seeded
    other = [_perm_of(o, s) for o, s in zip(token_shuffled(seqs, seed=1), seqs)]
    assert sum(a == b for a, b in zip(perms, other)) <= 1                    # the seed matters


def test_token_shuffled_is_uniform_over_positions():
    """Where the first token lands, over 800 seeds: every one of 4 positions 200 ± 50 times (a fixed
    rule puts it in one place; the seeds are fixed, so this is not flaky)."""
    landing = np.zeros(4, int)
    for seed in range(800):
        landing[int(np.flatnonzero(token_shuffled([np.arange(4)], seed)[0] == 0)[0])] += 1
    assert landing.sum() == 800 and np.all(np.abs(landing - 200) <= 50), landing


def test_text_windows_are_a_seeded_random_choice():
    corpus = read_corpus(CORPUS, lambda text: [ord(c) % 64 for c in text])
    request = {"histories": (12, 16), "futures": (6, 4)}
    a, b, c = (corpus.windows(request, seed=s) for s in (0, 0, 1))
    assert a["histories"].sources == b["histories"].sources                  # seeded
    assert set(a["histories"].sources) != set(c["histories"].sources)        # the seed matters
    starts = a["histories"].sources
    assert starts != sorted(starts)                                          # not the windows in text order
    # Not one stretch of text for every seed: the segments drawn vary with the seed.
    segments = {(d, st // 512) for seed in range(8) for d, st in corpus.windows(request, seed=seed)["histories"].sources}
    assert len(segments) >= 4


def test_random_columns_are_seeded_and_differ_per_future():
    m = tiny_llama(seed=0)
    futures = [[1], [2], [3], [4]]

    def cols(seed):
        return choose_column_tokens(m, [[5]], futures, "random", 6, rng=np.random.default_rng(seed))
    a = cols(0)
    assert np.array_equal(a, cols(0)) and not np.array_equal(a, cols(1))
    assert len({tuple(r) for r in a}) == len(futures)                        # one draw per future
    assert all(len(set(r)) == 6 for r in a) and not any(r.tolist() == list(range(6)) for r in a)


def test_random_init_twin_and_model_samples_depend_on_the_seed():
    lm = tiny_llama(seed=0)
    w = lambda model: next(model.parameters()).detach().clone()              # noqa: E731
    t0, t0b, t1 = (random_init_twin(lm.model, s) for s in (0, 0, 1))
    assert torch_equal(w(t0), w(t0b)) and not torch_equal(w(t0), w(t1)) and not torch_equal(w(t0), w(lm.model))
    s0, s0b, s1 = (np.stack(model_samples(lm, 6, 5, s)) for s in (0, 0, 1))
    assert np.array_equal(s0, s0b) and not np.array_equal(s0, s1)
    assert len({tuple(r) for r in s0}) > 1                                   # not one sequence repeated


def torch_equal(a, b) -> bool:
    import torch
    return bool(torch.equal(a, b))
