"""LINGEN on the widest LM we trained ourselves, at |H| = 8·d_model, on its held-out real text.

The same computation as :mod:`logitrank.experiments.real_lingen` (Options 1 and 2, held-out
32-token targets, 95% bootstrap intervals, the |H| sweep across d_model), run on the last
checkpoint of :mod:`logitrank.experiments.trained_lms` with histories, futures and targets cut
from the documents that model never trained on. At d_model = 128 the paper's ratio
|H| ≥ 8·d_model is reachable on a CPU, which it is not for SmolLM2 (d_model = 576).

References
----------
Golowich, Liu, Shetty (2025), §3, Algorithm 1 (LINGEN), Figs. 1b and 6.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from logitrank.experiments._base import Experiment
from logitrank.experiments.real_lingen import RealLingenConfig, RealLingenResult
from logitrank.experiments.real_lingen import compute as lingen_compute

__all__ = ["TrainedLMLingenConfig", "compute", "EXPERIMENT"]


@dataclasses.dataclass(frozen=True)
class TrainedLMLingenConfig(RealLingenConfig):
    """:class:`RealLingenConfig` sized for a trained width (``width``: None = the widest).

    ``model`` and ``corpus`` are filled from the ``trained_lms`` result (its last checkpoint,
    its held-out documents); the values here are placeholders.
    """

    model: str = "trained_lms"
    corpus: str = "trained_lms held-out documents"
    width: str | None = None
    n_histories: int = 1024
    n_targets: int = 8
    sweep_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
    sweep_generate_max: int = 128


PROFILES = {"quick": TrainedLMLingenConfig(),
            "full": TrainedLMLingenConfig(n_histories=2048, n_futures=64, future_length=8, n_targets=50, n_samples=5,
                                          sweep_sizes=(64, 128, 256, 512, 1024, 2048), sweep_generate_max=1024,
                                          future_chunk=64, max_batch_tokens=32768, max_kv_mib=8192.0,
                                          history_batch=256)}


def compute(config: TrainedLMLingenConfig, out_dir: Path, inputs=None) -> RealLingenResult:
    """Write the held-out documents as .txt files, then run :func:`real_lingen.compute` on the checkpoint."""
    from logitrank.experiments.trained_lms import TrainedLMsResult, _documents
    from logitrank.io import atomic_write_text

    src = Path(inputs["trained_lms"])
    family = TrainedLMsResult.load(src)
    model = family.model(config.width) if config.width else max(family.models, key=lambda m: m.d_model)
    _step, path = family.checkpoint_paths(src, model.width)[-1]
    text_dir = Path(out_dir) / "heldout_text"
    docs = _documents(family.config["corpus"])
    for name in family.heldout_documents:
        target = text_dir / f"{Path(name).stem}.txt"
        if not target.exists():
            atomic_write_text(target, docs[name])
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(RealLingenConfig)}
    fields.update(model=str(path), corpus=str(text_dir))
    return lingen_compute(RealLingenConfig(**fields), out_dir)


EXPERIMENT = Experiment(
    name="trained_lm_lingen", lens="logits", order=363, version=2,
    title="LINGEN on the widest trained LM at |H| = 8·d_model, held-out real text: Options 1 and 2, |H| sweep",
    profiles=PROFILES, compute=compute, result_type=RealLingenResult, figure_module="trained_lm_lingen",
    inputs=("trained_lms",))
