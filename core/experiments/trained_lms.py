"""The trained-LM family: a BPE tokenizer and small Llamas trained on the real-text corpus, from step 0.

Cached step of ``training_dynamics`` and ``trained_lm_claims`` (both read it as an input):

1. The corpus (``"shakespeare"`` by default, or a user's file/directory) is read with the one
   corpus reader (:func:`logitrank.real_models.corpus.read_corpus`). ``n_heldout_documents``
   documents, drawn with the seed, are **held out**: the validation loss and every probe
   window (histories, futures) of the experiments that read this one come from them, so no
   logit-matrix row was trained on.
2. A byte-level BPE tokenizer of ``vocab_size`` tokens is trained on the training documents
   (:func:`~logitrank.real_models.training.train_bpe_tokenizer`); all widths share it, so
   their logit matrices are over the same token sequences.
3. One Llama per width (presets of :data:`~logitrank.real_models.training.TRAINED_LM_PRESETS`)
   is trained on the training documents (EOS between documents) with
   :func:`~logitrank.real_models.training.train_causal_lm`: checkpoints at log-spaced steps
   including 0, ``save_pretrained`` directories under ``runs/<width>/checkpoints/``, loadable by
   path with :meth:`~logitrank.real_models.adapter.HFCausalLM.load` like any other model.

Cached and resumable: the tokenizer directory is written atomically and reused; each
training run resumes from its ``resume.pt`` after a kill and a finished run (``done.json``)
is not retrained, so a rerun of ``logitrank figures`` costs nothing here.

References
----------
Golowich, Liu, Shetty (2025), §3 (Fig. 3: OLMo-1b Stage-1 checkpoints; Fig. 7d: step 0).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.experiments._base import Experiment
from logitrank.io import atomic_write_json, read_json

__all__ = ["TrainedLMsConfig", "TrainedLMsResult", "TrainedLM", "compute", "heldout_corpus", "EXPERIMENT"]

FILE = "trained_lms.json"


@dataclasses.dataclass(frozen=True)
class TrainedLMsConfig:
    """Corpus, tokenizer, widths and training recipe of the family (quick profile defaults).

    ``threads``: torch CPU threads (None: torch's default, all cores); the value used is
    recorded in the result. ``steps`` × ``batch_size`` × ``seq_len`` tokens per width.
    """

    corpus: str = "shakespeare"
    n_heldout_documents: int = 4
    vocab_size: int = 4096
    widths: tuple[str, ...] = ("d64", "d128")
    steps: int = 150
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3
    warmup_steps: int = 15
    n_checkpoints: int = 8
    val_windows: int = 64
    seed: int = 0
    threads: int | None = None
    device: str | None = "cpu"


PROFILES = {"quick": TrainedLMsConfig(),
            # GPU: larger widths and ~50x more tokens (several epochs of the plays).
            "full": TrainedLMsConfig(widths=("d64", "d128", "d256", "d512"), steps=4000, batch_size=64,
                                     seq_len=256, lr=2e-3, warmup_steps=200, n_checkpoints=12,
                                     val_windows=256, device=None)}


@dataclasses.dataclass(frozen=True)
class TrainedLM:
    """One trained width: its architecture and its checkpoints (step, directory relative to the results)."""

    width: str
    d_model: int
    n_parameters: int
    steps: tuple[int, ...]
    checkpoints: tuple[str, ...]
    val_loss: tuple[float, ...]
    tokens_seen: tuple[int, ...]
    train_seconds: float
    tokens_per_second: float


@dataclasses.dataclass(frozen=True)
class TrainedLMsResult:
    """The family on disk: tokenizer, held-out documents, and per width the checkpoint series."""

    config: dict
    tokenizer_dir: str
    vocab_size: int
    heldout_documents: tuple[str, ...]
    n_train_tokens: int
    n_heldout_tokens: int
    models: tuple[TrainedLM, ...]
    threads: int
    seconds: float

    def save(self, out_dir: Path) -> None:
        atomic_write_json(Path(out_dir) / FILE, dataclasses.asdict(self))

    @classmethod
    def load(cls, results_dir: Path) -> TrainedLMsResult:
        rec = read_json(Path(results_dir) / FILE)
        models = tuple(TrainedLM(**{k: tuple(v) if isinstance(v, list) else v for k, v in m.items()})
                       for m in rec.pop("models"))
        rec["heldout_documents"] = tuple(rec["heldout_documents"])
        return cls(models=models, **rec)

    def model(self, width: str) -> TrainedLM:
        for m in self.models:
            if m.width == width:
                return m
        raise InvalidInputError(f"no trained width {width!r}; trained: {[m.width for m in self.models]}")

    def checkpoint_paths(self, results_dir: Path, width: str) -> list[tuple[int, Path]]:
        """``(step, absolute directory)`` of every checkpoint of ``width``."""
        m = self.model(width)
        return [(s, Path(results_dir) / p) for s, p in zip(m.steps, m.checkpoints)]


def _documents(source) -> dict[str, str]:
    """The documents of a corpus as text (:func:`~logitrank.real_models.corpus.read_documents`)."""
    from logitrank.real_models.corpus import read_documents
    return read_documents(source)[1]


def _split(documents: dict[str, str], n_heldout: int, seed: int) -> tuple[list[str], list[str]]:
    names = sorted(documents)
    if not 1 <= n_heldout < len(names):
        raise InvalidInputError(f"n_heldout_documents={n_heldout} must lie in [1, {len(names) - 1}] for a corpus of "
                                f"{len(names)} documents; give a directory with more .txt files or hold out fewer")
    pick = np.random.default_rng([seed, 12]).choice(len(names), size=n_heldout, replace=False)
    held = sorted(names[i] for i in pick)
    return [n for n in names if n not in held], held


def heldout_corpus(results_dir: Path, result: TrainedLMsResult | None = None):
    """The held-out documents as a :class:`~logitrank.real_models.corpus.TextCorpus` (trained tokenizer).

    Histories, futures and targets of the experiments on the trained family are cut from it
    with :meth:`~logitrank.real_models.corpus.TextCorpus.windows`.
    """
    from transformers import AutoTokenizer

    from logitrank.real_models.corpus import TextCorpus
    result = result or TrainedLMsResult.load(results_dir)
    docs = _documents(result.config["corpus"])
    tok = AutoTokenizer.from_pretrained(Path(results_dir) / result.tokenizer_dir, local_files_only=True)
    return TextCorpus(f"{result.config['corpus']} (held out)", {d: docs[d] for d in result.heldout_documents}, tok)


def _stream(tokenizer, texts: list[str]) -> np.ndarray:
    eos = int(tokenizer.eos_token_id)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.concatenate([np.asarray(x + [eos], dtype=np.int64) for x in ids])


def _n_parameters(checkpoint: Path) -> int:
    """Parameter count of a saved checkpoint, read from its safetensors header (no model built)."""
    from safetensors import safe_open
    total = 0
    for f in sorted(Path(checkpoint).glob("*.safetensors")):
        with safe_open(f, "pt") as st:
            total += sum(int(np.prod(st.get_slice(k).get_shape())) for k in st.keys())
    return total


def compute(config: TrainedLMsConfig, out_dir: Path, inputs=None) -> TrainedLMsResult:
    """Train (or resume, or reuse) the tokenizer and every width; return the checkpoint series."""
    import time

    import torch
    from transformers import AutoTokenizer

    from logitrank.real_models.runtime import torch_threads
    from logitrank.real_models.training import TRAINED_LM_PRESETS, TrainingConfig, train_bpe_tokenizer, train_causal_lm
    unknown = [w for w in config.widths if w not in TRAINED_LM_PRESETS]
    if unknown or not config.widths:
        raise InvalidInputError(f"unknown widths {unknown or list(config.widths)}; choose from {sorted(TRAINED_LM_PRESETS)}")
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    docs = _documents(config.corpus)
    train_docs, held = _split(docs, config.n_heldout_documents, config.seed)
    tok_dir = out_dir / "tokenizer"
    if (tok_dir / "tokenizer.json").exists():
        tok = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    else:
        tok = train_bpe_tokenizer((docs[d] for d in train_docs), vocab_size=config.vocab_size, out_dir=tok_dir)
    train = _stream(tok, [docs[d] for d in train_docs])
    val = _stream(tok, [docs[d] for d in held])
    tc = TrainingConfig(steps=config.steps, batch_size=config.batch_size, seq_len=config.seq_len, lr=config.lr,
                        warmup_steps=config.warmup_steps, n_checkpoints=config.n_checkpoints,
                        val_windows=config.val_windows, seed=config.seed)
    models = []
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        for width in config.widths:
            run = train_causal_lm(train, val, tok, out_dir / "runs" / width, model_config=width, training=tc,
                                  device=config.device, progress=True)
            by_step = {r["step"]: r for r in run.metrics}
            cfg = TRAINED_LM_PRESETS[width]
            models.append(TrainedLM(
                width=width, d_model=cfg.d_model,
                n_parameters=_n_parameters(run.checkpoints[-1][1]),
                steps=tuple(s for s, _ in run.checkpoints),
                checkpoints=tuple(str(p.relative_to(out_dir)) for _, p in run.checkpoints),
                val_loss=tuple(float(by_step[s]["val_loss"]) for s, _ in run.checkpoints),
                tokens_seen=tuple(int(by_step[s]["tokens_seen"]) for s, _ in run.checkpoints),
                train_seconds=run.seconds, tokens_per_second=run.tokens_per_second))
    return TrainedLMsResult(config=dataclasses.asdict(config), tokenizer_dir="tokenizer", vocab_size=len(tok),
                            heldout_documents=tuple(held), n_train_tokens=int(train.size),
                            n_heldout_tokens=int(val.size), models=tuple(models), threads=int(threads),
                            seconds=time.perf_counter() - t0)


EXPERIMENT = Experiment(
    name="trained_lms", lens="logits", order=360,
    title="Small Llamas trained on the Gutenberg plays with a BPE tokenizer, checkpoints from step 0",
    profiles=PROFILES, compute=compute, result_type=TrainedLMsResult, figure_module="training_family")
