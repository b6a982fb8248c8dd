"""Bad input raises the package's own exception with a message that says what to fix."""

import numpy as np
import pytest

from logitrank.errors import InvalidInputError, LogitRankError, ModelOutputError
from logitrank.sim.ensembles import random_isan
from logitrank.theory.enumeration import exact_tv_distance
from logitrank.theory.logit_matrix import cutwise_logit_matrix, extended_logit_matrix
from logitrank.theory.models import NoisyParity
from logitrank.theory.sequence_model import SequenceModel


@pytest.fixture
def isan():
    return random_isan(3, 4, 2, np.random.default_rng(0))


def test_ragged_batch(isan):
    with pytest.raises(InvalidInputError, match="ragged"):
        isan.next_token_logits([[0, 1], [2]])


def test_empty_batch(isan):
    with pytest.raises(InvalidInputError, match="empty prefix batch"):
        isan.next_token_logits([])


def test_token_outside_vocabulary(isan):
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        isan.next_token_logits([[0, 5]])
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        extended_logit_matrix(isan, [[0]], [[-1]])


def test_k_larger_than_vocabulary(isan):
    with pytest.raises(InvalidInputError, match="k=4 is out of range"):
        extended_logit_matrix(isan, [[0]], [[]], rule="topk_average", k=4)


def test_unknown_rule(isan):
    with pytest.raises(InvalidInputError, match="unknown column rule"):
        extended_logit_matrix(isan, [[0]], [[]], rule="top")


def test_horizon_and_cut_out_of_range(isan):
    with pytest.raises(InvalidInputError, match="out of range for a model of horizon"):
        isan.next_token_logits([[0, 0, 0, 0]])
    with pytest.raises(InvalidInputError, match="cut t=4 is out of range"):
        cutwise_logit_matrix(isan, 4)
    with pytest.raises(InvalidInputError, match="cut t=-1"):
        cutwise_logit_matrix(isan, -1)
    with pytest.raises(InvalidInputError, match="horizon is T=4"):
        isan.sample(2, 5, np.random.default_rng(0))


class _NaNModel(SequenceModel):
    vocab_size, horizon = 2, 3

    def _logits(self, prefixes):
        out = np.zeros((prefixes.shape[0], 2))
        out[:, 1] = np.nan
        return out


def test_non_finite_logit_from_a_model():
    with pytest.raises(ModelOutputError, match="non-finite logit"):
        _NaNModel().next_token_logits([[0]])


def test_model_parameters_are_checked():
    with pytest.raises(InvalidInputError, match="noise rate"):
        NoisyParity(3, 0.7, [1, 0, 1])
    with pytest.raises(InvalidInputError, match="shape"):
        random_isan(3, 4, 2, np.random.default_rng(0)).__class__(np.zeros((2, 3, 2, 2)), np.zeros((2, 3, 3)), np.zeros(2))


def test_errors_share_one_base_and_builtin():
    assert issubclass(InvalidInputError, LogitRankError) and issubclass(InvalidInputError, ValueError)


def test_tv_needs_matching_vocabularies(isan):
    with pytest.raises(InvalidInputError, match="different vocabularies"):
        exact_tv_distance(isan, NoisyParity(3, 0.1, [1, 1, 0]))
