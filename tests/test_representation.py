"""Theorem 4.3 ('if'), constructive: cut-wise rank ≤ d ⇒ an ISAN of dimension d reproduces the model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logitrank.errors import InvalidInputError
from logitrank.sim.ensembles import random_hmm, random_isan
from logitrank.theory.enumeration import exact_tv_distance
from logitrank.theory.logit_matrix import cutwise_ranks
from logitrank.theory.models import NoisyParity, TabularSequenceModel
from logitrank.theory.representation import isan_from_low_rank_model


@settings(max_examples=20, deadline=None)
@given(vocab=st.integers(2, 3), horizon=st.integers(1, 5), dim=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_constructed_isan_reproduces_random_low_rank_model(vocab, horizon, dim, seed):
    """Theorem 4.3 ('if'): from the logits alone of a model with cut-wise ranks ≤ d (a random ISAN
    hidden behind a lookup table), the basis-history construction yields a time-varying ISAN of
    dimension d with exact TV distance < 1e-9 to the model."""
    model = TabularSequenceModel.from_model(random_isan(vocab, horizon, dim, np.random.default_rng(seed)))
    built = isan_from_low_rank_model(model, dim)
    assert built.isan.dim == dim
    assert exact_tv_distance(model, built.isan) < 1e-9
    assert max(cutwise_ranks(built.isan)) <= dim


def test_noisy_parity_is_a_rank_one_isan():
    model = NoisyParity(5, 0.2, [1, 1, 0, 1, 0])
    built = isan_from_low_rank_model(model, 1)
    assert exact_tv_distance(model, built.isan) < 1e-12


def test_too_small_dimension_is_refused():
    hmm = random_hmm(3, 3, np.random.default_rng(0), horizon=4)
    with pytest.raises(InvalidInputError, match="logit rank .* > dim=1"):
        isan_from_low_rank_model(hmm, 1)


def test_hmm_is_reproduced_at_its_logit_rank():
    """Any model is an ISAN at dimension = its max cut-wise logit rank (here a random HMM)."""
    hmm = random_hmm(2, 2, np.random.default_rng(1), horizon=4)
    d = max(cutwise_ranks(hmm, rtol=1e-9))
    assert exact_tv_distance(hmm, isan_from_low_rank_model(hmm, d).isan) < 1e-9
