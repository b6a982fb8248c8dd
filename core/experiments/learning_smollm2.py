"""The query learner on SmolLM2 restricted to a few colour tokens (experimental, real model).

Its compute (:func:`logitrank.sim.learning.real_model_demo`) and figure module
(``paper_figs/learning_real.py``, which reads ``real.json`` by key) move with the other
real-model code in step two of issue 10; the result keeps that file layout until then.

References
----------
Golowich, Liu, Shetty (2025b): the guarantee is proved for (approximately) low logit rank;
no language-model run is reported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from logitrank.experiments._base import Experiment
from logitrank.io import atomic_write_json, read_json
from logitrank.sim.learning import real_model_demo

__all__ = ["SmolLM2LearningConfig", "SmolLM2LearningResult", "compute", "EXPERIMENT"]

FILE = "real.json"


@dataclasses.dataclass(frozen=True)
class SmolLM2LearningConfig:
    """Alphabet (single-token texts), horizon, rank caps (None: no cap), ε, epochs and TV samples."""

    token_texts: tuple[str, ...] = (" red", " green", " blue", " yellow")
    horizon: int = 5
    max_ranks: tuple[int | None, ...] = (1, 2, 4, 8, None)
    epsilon: float = 0.1
    max_epochs: int = 20
    tv_samples: int = 1000


PROFILES = {"quick": SmolLM2LearningConfig(),
            "full": SmolLM2LearningConfig(token_texts=(" red", " green", " blue", " yellow", " black", " white"),
                                          max_ranks=(1, 2, 4, 8, 16, None), max_epochs=30, tv_samples=4000)}


@dataclasses.dataclass(frozen=True)
class SmolLM2LearningResult:
    """The demo's record as :func:`~logitrank.sim.learning.real_model_demo` returns it (typed in step two)."""

    record: dict[str, Any]

    def save(self, out_dir: Path) -> None:
        atomic_write_json(Path(out_dir) / FILE, self.record)

    @classmethod
    def load(cls, results_dir: Path) -> SmolLM2LearningResult:
        return cls(record=read_json(Path(results_dir) / FILE))


def compute(config: SmolLM2LearningConfig, out_dir: Path | None = None, inputs=None) -> SmolLM2LearningResult:
    """Fit the learner once per rank cap on the restricted SmolLM2."""
    return SmolLM2LearningResult(record=real_model_demo(**dataclasses.asdict(config)))


EXPERIMENT = Experiment(
    name="learning_smollm2", lens="logits", order=230,
    title="Query learner on SmolLM2 restricted to a few colour tokens, short horizon (experimental)",
    profiles=PROFILES, compute=compute, result_type=SmolLM2LearningResult, figure_module="learning_real")
