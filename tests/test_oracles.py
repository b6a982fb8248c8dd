"""Logit-query and sample oracles (Golowich, Liu, Shetty 2025b, access model §1.2)."""

import numpy as np
import pytest

from logitrank.errors import BudgetExhaustedError, InvalidInputError, ModelOutputError
from logitrank.sim.ensembles import random_isan
from logitrank.theory.oracles import LogitQueryOracle, SampleOracle
from logitrank.theory.sequence_model import SequenceModel


class _NaNModel(SequenceModel):
    vocab_size, horizon = 3, 4

    def _logits(self, prefixes):
        out = np.zeros((prefixes.shape[0], 3))
        out[:, 1] = np.nan
        return out


def _model():
    return random_isan(3, 4, 2, np.random.default_rng(0))


def test_exact_oracle_returns_centered_logits_and_counts():
    M = _model()
    oracle = LogitQueryOracle(M)
    prefixes = np.array([[0, 1], [2, 2], [1, 0]])
    out = oracle.query(prefixes)
    np.testing.assert_allclose(out, M.centered_logits(prefixes), atol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), 0.0, atol=1e-12)
    oracle.query([[]])
    assert oracle.n_queries == 4 and oracle.n_calls == 2


def test_noisy_oracle_error_is_bounded_by_xi():
    M = _model()
    xi = 0.05
    oracle = LogitQueryOracle(M, noise=xi, rng=np.random.default_rng(1))
    prefixes = np.array([[0, 1, 2]] * 200)
    err = oracle.query(prefixes) - M.centered_logits(prefixes)
    assert np.abs(err).max() <= xi
    assert np.abs(err).max() > xi / 2          # the noise is really there


def test_budget_refuses_a_batch_that_would_exceed_it():
    oracle = LogitQueryOracle(_model(), budget=5)
    oracle.query(np.zeros((4, 1), dtype=int))
    with pytest.raises(BudgetExhaustedError, match="budget"):
        oracle.query(np.zeros((2, 1), dtype=int))
    assert oracle.n_queries == 4 and oracle.remaining == 1
    oracle.query(np.zeros((1, 1), dtype=int))
    assert oracle.remaining == 0


def test_non_finite_logits_raise():
    with pytest.raises(ModelOutputError, match="non-finite"):
        LogitQueryOracle(_NaNModel()).query([[0]])


@pytest.mark.parametrize("kwargs", [dict(noise=-1.0), dict(noise=float("nan")), dict(noise=0.1),
                                    dict(budget=-3), dict(budget=1.5)])
def test_bad_oracle_arguments(kwargs):
    with pytest.raises(InvalidInputError):
        LogitQueryOracle(_model(), **kwargs)


def test_query_rejects_prefix_out_of_horizon():
    with pytest.raises(InvalidInputError, match="out of range"):
        LogitQueryOracle(_model()).query(np.zeros((1, 4), dtype=int))


def test_sample_oracle_counts_and_budget():
    M = _model()
    so = SampleOracle(M, np.random.default_rng(0), budget=10)
    Y = so.sample(7)
    assert Y.shape == (7, 4) and Y.dtype == np.int64 and so.n_samples == 7
    with pytest.raises(BudgetExhaustedError):
        so.sample(4)
    assert so.remaining == 3


@pytest.mark.parametrize("length", [0, 5, -1])
def test_sample_oracle_length_out_of_range(length):
    with pytest.raises(InvalidInputError, match="out of range"):
        SampleOracle(_model(), np.random.default_rng(0), length=length)


def test_oracles_need_a_sequence_model():
    with pytest.raises(InvalidInputError, match="SequenceModel"):
        LogitQueryOracle(object())
