"""Language models we train ourselves, checkpointed from step 0.

A small, seeded, resumable training recipe for Llama-architecture causal LMs on a token
stream, so that the toolkit has (a) real trained LMs cheap enough on CPU to test lens-1
claims at the paper's ratios and (b) a checkpoint series from step 0 to follow the logit
structure through training (Golowich, Liu, Shetty 2025, Fig. 3 and Fig. 7d: OLMo-1b
Stage-1 checkpoints; α ≈ 0.374 at step 0).

Design points:

1. **Tokenizer.** Byte-level BPE trained with Hugging Face ``tokenizers`` from an iterable
   of strings (:func:`train_bpe_tokenizer`); deterministic for a given input order; special
   tokens ``<|bos|>`` (id 0), ``<|eos|>`` (1), ``<|pad|>`` (2). Saved as a ``transformers``
   fast tokenizer directory, so ``AutoTokenizer.from_pretrained`` loads it.
2. **Models.** :class:`TrainedLMConfig` (frozen; named presets in :data:`TRAINED_LM_PRESETS`)
   maps to a ``transformers.LlamaConfig``; weights are initialised by the architecture's own
   initialiser under ``torch.manual_seed(seed)`` on the CPU, so step 0 is the same on every
   device.
3. **Data.** The caller passes 1-D token-id arrays for training and validation (the corpus
   reader produces them; nothing here reads files). The training stream is cut into
   non-overlapping windows of ``seq_len`` tokens; each example is ``[BOS] + window`` — the
   same BOS that :class:`~logitrank.real_models.adapter.HFCausalLM` prepends to every query.
   Epoch ``e`` visits the windows in the order ``default_rng([seed, e]).permutation``, so
   the batch of every step is a pure function of (seed, step): resuming needs only the step.
4. **Checkpoints.** At log-spaced steps including 0 and the last (:func:`log_spaced_steps`)
   the model is written with ``save_pretrained`` into ``checkpoints/step-NNNNNN/`` together
   with the tokenizer and ``training_state.json`` (step, train/val loss, tokens seen, seed,
   configs, probe metrics). Each directory is written to a temporary name and renamed, so a
   directory that exists is complete; :meth:`~logitrank.real_models.adapter.HFCausalLM.load`
   loads it like any other model.
5. **Resume.** ``resume.pt`` (model, AdamW and scheduler state, RNG state, step, metrics) is
   written atomically (temp file + rename) at every checkpoint and every ``save_every``
   steps. A rerun after a kill continues from it and gives bit-identical weights (same
   batches, same order of operations). ``run.json`` fingerprints the run (configs and a hash
   of the token streams); a different run in the same directory raises
   :class:`~logitrank.errors.ResumeError`. ``done.json`` is written last: a rerun of a
   finished run returns its result without training.
6. **Validation before work.** Every input is checked (stream lengths against the requested
   windows and batches, token ids against the vocabulary, step counts) before anything is
   written.

References
----------
Golowich, N., Liu, A., Shetty, A. (2025). Sequences of Logits Reveal the Low Rank Structure
of Language Models, §3 (training dynamics, Fig. 3; untrained model, Fig. 7d).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from logitrank.errors import InvalidInputError, ResumeError
from logitrank.io import atomic_write_bytes, atomic_write_json, read_json, to_jsonable

__all__ = [
    "SPECIAL_TOKENS",
    "TrainedLMConfig",
    "TRAINED_LM_PRESETS",
    "TrainingConfig",
    "TrainingRun",
    "train_bpe_tokenizer",
    "build_trained_lm",
    "log_spaced_steps",
    "train_causal_lm",
    "checkpoint_dirs",
    "validation_loss",
]

SPECIAL_TOKENS = ("<|bos|>", "<|eos|>", "<|pad|>")   # ids 0, 1, 2 in every trained tokenizer
_STATE_FILE = "training_state.json"


# --- tokenizer ------------------------------------------------------------------------------
def train_bpe_tokenizer(texts: Iterable[str], *, vocab_size: int = 4096, min_frequency: int = 2,
                        out_dir: str | os.PathLike | None = None):
    """Train a byte-level BPE tokenizer on ``texts``; return a ``PreTrainedTokenizerFast``.

    Parameters
    ----------
    texts : iterable of strings (documents or lines), consumed once in order.
    vocab_size : target vocabulary size including the 256 byte symbols and the three
        special tokens :data:`SPECIAL_TOKENS` (BOS = 0, EOS = 1, PAD = 2). The result can be
        smaller when the text has fewer merges.
    min_frequency : a pair is merged only if it occurs at least this often.
    out_dir : when given, the tokenizer is saved there with ``save_pretrained`` (written
        to a temporary directory and renamed, so the directory is complete or absent).

    Returns
    -------
    transformers.PreTrainedTokenizerFast with ``bos_token``, ``eos_token``, ``pad_token`` set.
    Encoding adds no special tokens; callers prepend BOS themselves (as ``HFCausalLM`` does).

    Notes
    -----
    Deterministic: the same texts in the same order give the same vocabulary and merges
    (the BPE trainer has no random choices; ties are broken by the pair ids).

    Examples
    --------
    >>> tok = train_bpe_tokenizer(["to be or not to be"] * 10, vocab_size=270)
    >>> tok.decode(tok("to be")["input_ids"])
    'to be'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    n_min = 256 + len(SPECIAL_TOKENS)
    if int(vocab_size) < n_min:
        raise InvalidInputError(f"vocab_size={vocab_size} is below the {n_min} byte and special symbols; "
                                f"use vocab_size >= {n_min} (a few thousand for real text)")
    if int(min_frequency) < 1:
        raise InvalidInputError(f"min_frequency must be >= 1, got {min_frequency}")
    if isinstance(texts, str):
        texts = [texts]
    n_chars = 0

    def _counted():
        nonlocal n_chars
        for t in texts:
            if not isinstance(t, str):
                raise InvalidInputError(f"texts must be strings, got {type(t).__name__}")
            n_chars += len(t)
            yield t

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), min_frequency=int(min_frequency),
                                  special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_counted(), trainer=trainer)
    if n_chars == 0:
        raise InvalidInputError("cannot train a tokenizer on empty text; pass a non-empty corpus")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL_TOKENS[0],
                                   eos_token=SPECIAL_TOKENS[1], pad_token=SPECIAL_TOKENS[2])
    if out_dir is not None:
        _atomic_save_dir(Path(out_dir), lambda tmp: fast.save_pretrained(tmp))
    return fast


# --- model ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainedLMConfig:
    """Architecture of a small Llama-style causal LM (the vocabulary comes from the tokenizer).

    Attributes
    ----------
    d_model : hidden size (the dimension of φ(p) in L[z|p] = φ(p)ᵀ(ψ(z) − ψ̄)).
    n_layers, n_heads, n_kv_heads : decoder blocks, attention heads, key/value heads.
    mlp_ratio : intermediate size of the SwiGLU MLP as a multiple of d_model.
    max_context : positions the model supports (BOS + training window + probe futures).
    tie_embeddings : share the input embedding and the LM head (off: a separate unembedding,
        as in Llama; tied models behave differently for lens 3, Park et al. 2024).
    """

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 4
    mlp_ratio: int = 4
    max_context: int = 256
    tie_embeddings: bool = False

    def validate(self) -> "TrainedLMConfig":
        for name in ("d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_ratio", "max_context"):
            if int(getattr(self, name)) < 1:
                raise InvalidInputError(f"TrainedLMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise InvalidInputError(f"d_model={self.d_model} must split into n_heads={self.n_heads} heads of "
                                    f"even size (rotary embeddings); pick n_heads dividing d_model/2")
        if self.n_heads % self.n_kv_heads:
            raise InvalidInputError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.n_kv_heads}")
        return self

    def llama_config(self, vocab_size: int):
        """The ``transformers.LlamaConfig`` of this architecture for a tokenizer of ``vocab_size``."""
        from transformers import LlamaConfig
        self.validate()
        return LlamaConfig(vocab_size=int(vocab_size), hidden_size=self.d_model,
                           intermediate_size=self.mlp_ratio * self.d_model, num_hidden_layers=self.n_layers,
                           num_attention_heads=self.n_heads, num_key_value_heads=self.n_kv_heads,
                           max_position_embeddings=self.max_context, bos_token_id=0, eos_token_id=1,
                           pad_token_id=2, tie_word_embeddings=self.tie_embeddings)


#: Named architectures. ``d64``/``d128`` are the CPU quick profile's candidates, ``d256`` and
#: ``d512`` the GPU (``--full``) family. Head size 16 (d64) or 32/64 throughout.
TRAINED_LM_PRESETS: dict[str, TrainedLMConfig] = {
    "d64": TrainedLMConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=4),
    "d128": TrainedLMConfig(d_model=128, n_layers=3, n_heads=4, n_kv_heads=4),
    "d256": TrainedLMConfig(d_model=256, n_layers=4, n_heads=8, n_kv_heads=8),
    "d512": TrainedLMConfig(d_model=512, n_layers=6, n_heads=8, n_kv_heads=8, max_context=512),
}


def build_trained_lm(config: TrainedLMConfig, vocab_size: int, *, seed: int = 0):
    """A freshly initialised ``LlamaForCausalLM`` of ``config`` (seeded, CPU, float32, train mode).

    The architecture's own initialiser runs under ``torch.manual_seed(seed)`` with the global
    RNG state restored afterwards, so the step-0 weights depend only on (config, vocab, seed).
    """
    from transformers import LlamaForCausalLM
    cfg = config.llama_config(vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = LlamaForCausalLM(cfg)
    return model.float().train()


# --- training configuration ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Hyperparameters of one training run (all of it is part of the run's fingerprint).

    Attributes
    ----------
    steps : optimizer steps.
    batch_size : windows per step; ``seq_len`` tokens per window (plus the BOS input).
    lr, weight_decay, betas, grad_clip : AdamW and gradient-norm clipping.
    warmup_steps : linear warm-up; then ``schedule`` ("cosine" or "linear") decays to
        ``min_lr_ratio · lr`` at the last step.
    seed : model initialisation and data order.
    n_checkpoints : number of log-spaced checkpoint steps (0 and ``steps`` always included),
        or ``checkpoint_steps`` to give them explicitly.
    val_windows : held-out windows for the validation loss (at most; fewer if the
        validation stream is shorter).
    eval_every : also compute the validation loss every this many steps (0: checkpoints only).
    probe_every : call the probe every this many steps and at every checkpoint (0: at
        checkpoints only).
    save_every : write the resume state every this many steps (and at every checkpoint).
    max_epochs : refuse a run that would pass over the training windows more often than this.
    """

    steps: int = 1000
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0
    warmup_steps: int = 50
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    seed: int = 0
    n_checkpoints: int = 8
    checkpoint_steps: tuple | None = None
    val_windows: int = 64
    eval_every: int = 0
    probe_every: int = 0
    save_every: int = 200
    max_epochs: float = 50.0

    def validate(self) -> "TrainingConfig":
        if int(self.steps) < 1:
            raise InvalidInputError(f"steps must be >= 1, got {self.steps}")
        for name in ("batch_size", "seq_len", "val_windows", "save_every", "n_checkpoints"):
            if int(getattr(self, name)) < 1:
                raise InvalidInputError(f"TrainingConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_every", "probe_every"):
            if int(getattr(self, name)) < 0:
                raise InvalidInputError(f"TrainingConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.grad_clip > 0 and 0 <= self.min_lr_ratio <= 1):
            raise InvalidInputError("need lr > 0, weight_decay >= 0, grad_clip > 0 and 0 <= min_lr_ratio <= 1")
        if self.schedule not in ("cosine", "linear"):
            raise InvalidInputError(f"schedule must be 'cosine' or 'linear', got {self.schedule!r}")
        if self.checkpoint_steps is not None:
            cs = list(self.checkpoint_steps)
            if not cs or any(int(s) < 0 or int(s) > self.steps for s in cs):
                raise InvalidInputError(f"checkpoint_steps must lie in [0, steps={self.steps}], got {cs}")
        if not self.max_epochs > 0:
            raise InvalidInputError(f"max_epochs must be > 0, got {self.max_epochs}")
        return self

    def checkpoints(self) -> list[int]:
        """The checkpoint steps: given ones, or :func:`log_spaced_steps`; 0 and ``steps`` always in."""
        if self.checkpoint_steps is not None:
            return sorted({0, int(self.steps), *(int(s) for s in self.checkpoint_steps)})
        return log_spaced_steps(self.steps, self.n_checkpoints)

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier for the update that takes the model from ``step`` to ``step + 1``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(self.steps - self.warmup_steps, 1)
        t = min((step - self.warmup_steps) / span, 1.0)
        decay = 0.5 * (1 + math.cos(math.pi * t)) if self.schedule == "cosine" else 1.0 - t
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * decay


def log_spaced_steps(total: int, n: int) -> list[int]:
    """``n`` checkpoint steps in [0, total]: 0, then log-spaced from 1 to ``total`` (deduplicated).

    >>> log_spaced_steps(1000, 5)
    [0, 1, 10, 100, 1000]
    """
    if int(total) < 0 or int(n) < 1:
        raise InvalidInputError(f"need total >= 0 and n >= 1, got total={total}, n={n}")
    if total == 0 or n == 1:
        return sorted({0, int(total)})
    pts = np.rint(np.geomspace(1, total, n - 1)).astype(int) if n > 2 else np.array([total])
    return sorted({0, int(total), *pts.tolist()})


# --- results --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TrainingRun:
    """What a training run left on disk.

    Attributes
    ----------
    out_dir : the run directory.
    checkpoints : ``(step, path)`` of every checkpoint directory, by step.
    metrics : one record per evaluation (step, train_loss, val_loss, tokens_seen, lr and the
        probe's metrics), in step order; the same records as ``metrics.json``.
    seconds : wall time of the training (summed over resumed sessions).
    tokens_per_second : trained tokens (inputs) per second of training wall time.
    """

    out_dir: Path
    checkpoints: tuple
    metrics: tuple
    seconds: float
    tokens_per_second: float

    @property
    def final_val_loss(self) -> float:
        return float(self.metrics[-1]["val_loss"])

    @classmethod
    def load(cls, out_dir) -> "TrainingRun":
        """Read a finished run (raises :class:`ResumeError` if it is not marked done)."""
        out_dir = Path(out_dir)
        if not (out_dir / "done.json").exists():
            raise ResumeError(f"{out_dir} holds no finished training run (no done.json); rerun the training")
        done = read_json(out_dir / "done.json")
        return cls(out_dir, tuple((s, p) for s, p in checkpoint_dirs(out_dir)),
                   tuple(read_json(out_dir / "metrics.json")), float(done["seconds"]),
                   float(done["tokens_per_second"]))


def checkpoint_dirs(out_dir) -> list[tuple[int, Path]]:
    """``(step, directory)`` of the complete checkpoints of a run, by step."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        if d.is_dir() and d.name.startswith("step-") and (d / _STATE_FILE).exists():
            found.append((int(d.name[5:]), d))
    return sorted(found)


# --- helpers --------------------------------------------------------------------------------
def _atomic_save_dir(final: Path, write: Callable[[Path], None]) -> None:
    """Write a directory under a temporary name, then rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    try:
        write(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _atomic_torch_save(path: Path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _token_array(tokens, name: str, vocab_size: int) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{name} must be a 1-D integer array of token ids, got shape {arr.shape} "
                                f"and dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise InvalidInputError(f"{name} has token ids outside the tokenizer's vocabulary [0, {vocab_size}); "
                                f"tokenize the corpus with the same tokenizer")
    return arr.astype(np.int64)


def _stream_hash(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:20]


def _vocab_hash(tokenizer) -> str:
    blob = json.dumps(sorted(tokenizer.get_vocab().items()), separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class _Batches:
    """Step → batch of windows: epoch-wise seeded permutations of non-overlapping windows."""

    def __init__(self, stream: np.ndarray, seq_len: int, batch_size: int, seed: int, bos: int):
        self.n_windows = stream.size // seq_len
        self.windows = stream[: self.n_windows * seq_len].reshape(self.n_windows, seq_len)
        self.batch_size, self.seed, self.bos = batch_size, seed, bos
        self._perm: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm:
            self._perm = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)}
        return self._perm[epoch]

    def __call__(self, step: int) -> torch.Tensor:
        idx = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        rows = [self._order(int(i // self.n_windows))[int(i % self.n_windows)] for i in idx]
        body = torch.from_numpy(self.windows[rows])
        return torch.cat([torch.full((len(rows), 1), self.bos, dtype=torch.long), body], dim=1)


@torch.no_grad()
def validation_loss(model, val: torch.Tensor, batch_size: int, device) -> float:
    """Mean next-token NLL (nats/token) of a causal LM on rows ``[BOS] + window`` of ``val`` (teacher forcing).

    The first position of every row (BOS) is only an input; the model's train/eval mode is restored.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for s in range(0, val.shape[0], batch_size):
        ids = val[s:s + batch_size].to(device)
        logits = model(input_ids=ids).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                                reduction="sum")
        total += float(nll)
        count += int(ids[:, 1:].numel())
    model.train(was_training)
    return total / count


# --- the loop -------------------------------------------------------------------------------
def train_causal_lm(train_tokens, val_tokens, tokenizer, out_dir, *,
                    model_config: TrainedLMConfig | str = "d64", training: TrainingConfig | None = None,
                    device=None, probe: Callable | None = None, progress: bool = True,
                    stop_after_steps: int | None = None) -> TrainingRun | None:
    """Train a small Llama on a token stream, checkpointing from step 0; resumable.

    Parameters
    ----------
    train_tokens, val_tokens : 1-D integer arrays of token ids (training stream and the
        held-out stream for the validation loss), tokenised with ``tokenizer``.
    tokenizer : the ``PreTrainedTokenizerFast`` of :func:`train_bpe_tokenizer` (any fast
        tokenizer with a BOS token works); saved into every checkpoint.
    out_dir : run directory (``run.json``, ``resume.pt``, ``metrics.json``, ``done.json``,
        ``checkpoints/step-NNNNNN/``).
    model_config : a :class:`TrainedLMConfig` or a preset name of :data:`TRAINED_LM_PRESETS`.
    training : a :class:`TrainingConfig` (default: its defaults).
    device : torch device (default CUDA when available, else CPU).
    probe : optional ``probe(model, tokenizer) -> Mapping[str, float]`` called (in eval mode,
        under ``no_grad``, RNG state preserved) at every checkpoint and every
        ``training.probe_every`` steps; its values join the metrics records, ``metrics.json``
        and the checkpoint's ``training_state.json``. E.g.
        :class:`~logitrank.real_models.training_diagnostic.LogitRankProbe`.
    progress : a progress bar on stderr (:func:`logitrank.progress.progress`) with the running train and
        last validation loss.
    stop_after_steps : stop as if killed once this step is reached (nothing more is
        written; a rerun resumes from the last saved resume state); returns ``None``. For
        tests of the resume path.

    Returns
    -------
    TrainingRun, or ``None`` when stopped early by ``stop_after_steps``.

    Raises
    ------
    InvalidInputError : streams too short for ``batch_size`` windows of ``seq_len`` tokens
        (or for the requested steps within ``max_epochs``), token ids outside the
        vocabulary, a window longer than the model's context; all before anything is written.
    ResumeError : ``out_dir`` holds a different run.

    Notes
    -----
    The weights after step s are bit-identical whether or not the run was interrupted
    and resumed (same device and thread count): the batch of a step is a function of
    (seed, step) and the optimizer, scheduler and RNG states are restored exactly.

    References
    ----------
    Golowich, Liu, Shetty (2025), §3, Fig. 3 (logit rank through pretraining, from step 0).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> tok = train_bpe_tokenizer(["to be or not to be, that is the question"] * 50, vocab_size=280)
    >>> ids = np.asarray(tok(" ".join(["to be or not to be"] * 40))["input_ids"])
    >>> run = train_causal_lm(ids[:150], ids[150:], tok, tempfile.mkdtemp(), progress=False,
    ...     model_config=TrainedLMConfig(d_model=16, n_layers=1, n_heads=2, n_kv_heads=2, max_context=32),
    ...     training=TrainingConfig(steps=2, batch_size=2, seq_len=8, warmup_steps=1))
    >>> [s for s, _ in run.checkpoints]
    [0, 1, 2]
    """
    cfg, tc, bos, train, val, n_val = _checked_inputs(train_tokens, val_tokens, tokenizer, model_config, training)
    out_dir = Path(out_dir)
    fingerprint = to_jsonable({"format": 1, "model_config": dataclasses.asdict(cfg),
                               "training": dataclasses.asdict(tc), "vocab_size": len(tokenizer),
                               "tokenizer": _vocab_hash(tokenizer), "train_tokens": _stream_hash(train),
                               "val_tokens": _stream_hash(val)})
    if (out_dir / "run.json").exists():
        if read_json(out_dir / "run.json") != fingerprint:
            raise ResumeError(f"{out_dir} holds a different training run (other configs, tokenizer or data); "
                              f"use a new out_dir or delete it")
        if (out_dir / "done.json").exists():
            return TrainingRun.load(out_dir)
    else:
        atomic_write_json(out_dir / "run.json", fingerprint)
    trainer = _Trainer(cfg, tc, tokenizer, out_dir, fingerprint, device, probe)
    trainer.load_resume()
    if not trainer.run(_Batches(train, tc.seq_len, tc.batch_size, tc.seed, bos),
                       _validation_batch(val, n_val, tc.seq_len, bos), progress, stop_after_steps):
        return None
    tps = tc.steps * tc.batch_size * (tc.seq_len + 1) / max(trainer.seconds, 1e-9)
    atomic_write_json(out_dir / "done.json", {"steps": tc.steps, "seconds": trainer.seconds,
                                              "tokens_per_second": tps,
                                              "final_val_loss": trainer.metrics[-1]["val_loss"]})
    trainer.resume.unlink(missing_ok=True)   # the final checkpoint and done.json carry everything
    return TrainingRun.load(out_dir)


def _checked_inputs(train_tokens, val_tokens, tokenizer, model_config, training):
    """Every input of :func:`train_causal_lm` checked before anything is written.

    Returns (model config, training config, BOS id, train stream, val stream, validation windows).
    """
    cfg = TRAINED_LM_PRESETS.get(model_config) if isinstance(model_config, str) else model_config
    if cfg is None:
        raise InvalidInputError(f"unknown model preset {model_config!r}; choose one of {sorted(TRAINED_LM_PRESETS)}")
    cfg = cfg.validate()
    tc = (training or TrainingConfig()).validate()
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        raise InvalidInputError("the tokenizer has no BOS token; train it with train_bpe_tokenizer or set bos_token")
    vocab = len(tokenizer)
    train = _token_array(train_tokens, "train_tokens", vocab)
    val = _token_array(val_tokens, "val_tokens", vocab)
    if tc.seq_len + 1 > cfg.max_context:
        raise InvalidInputError(f"seq_len={tc.seq_len} plus BOS exceeds the model's max_context="
                                f"{cfg.max_context}; shorten seq_len or raise max_context")
    n_train = train.size // tc.seq_len
    if n_train < tc.batch_size:
        raise InvalidInputError(
            f"train_tokens has {train.size} tokens = {n_train} windows of seq_len={tc.seq_len}, fewer than one "
            f"batch of {tc.batch_size}; give a larger corpus or lower batch_size/seq_len")
    epochs = tc.steps * tc.batch_size / n_train
    if epochs > tc.max_epochs:
        raise InvalidInputError(
            f"{tc.steps} steps × {tc.batch_size} windows would pass {epochs:.1f} times over the {n_train} training "
            f"windows (max_epochs={tc.max_epochs}); give a larger corpus, fewer steps, or raise max_epochs")
    n_val = min(val.size // tc.seq_len, tc.val_windows)
    if n_val < 1:
        raise InvalidInputError(f"val_tokens has {val.size} tokens, fewer than one window of seq_len={tc.seq_len}; "
                                f"hold out more text for validation")
    return cfg, tc, int(bos), train, val, n_val


def _validation_batch(val: np.ndarray, n_val: int, seq_len: int, bos: int) -> torch.Tensor:
    """The first ``n_val`` windows of the held-out stream, each as [BOS] + window."""
    return torch.cat([torch.full((n_val, 1), bos, dtype=torch.long),
                      torch.from_numpy(val[: n_val * seq_len].reshape(n_val, seq_len))], dim=1)


class _Trainer:
    """The state of one training run (model, AdamW, schedule, step, metrics) and its steps and saves."""

    def __init__(self, cfg: TrainedLMConfig, tc: TrainingConfig, tokenizer, out_dir: Path, fingerprint: dict,
                 device, probe: Callable | None):
        from logitrank.real_models.runtime import default_device
        self.cfg, self.tc, self.tokenizer, self.out_dir = cfg, tc, tokenizer, out_dir
        self.fingerprint, self.probe = fingerprint, probe
        self.dev = torch.device(device) if device is not None else default_device()
        self.model = build_trained_lm(cfg, len(tokenizer), seed=tc.seed).to(self.dev)
        decay = [p for n, p in self.model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=tuple(tc.betas))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: tc.lr_factor(s))
        self.step, self.metrics, self.seconds, self.loss_sum, self.loss_n = 0, [], 0.0, 0.0, 0
        self.resume = out_dir / "resume.pt"

    def load_resume(self) -> None:
        """Continue from ``resume.pt`` when there is one (model, optimizer, schedule, RNG, counters)."""
        if not self.resume.exists():
            return
        state = torch.load(self.resume, map_location="cpu", weights_only=False)
        if state["fingerprint"] != self.fingerprint:
            raise ResumeError(f"{self.resume} belongs to a different run; delete {self.out_dir} or use a new out_dir")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        torch.random.set_rng_state(state["rng_cpu"])
        if self.dev.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.dev)
        self.step, self.metrics, self.seconds = int(state["step"]), list(state["metrics"]), float(state["seconds"])
        self.loss_sum, self.loss_n = float(state["loss_sum"]), int(state["loss_n"])

    def save_resume(self) -> None:
        cuda = self.dev.type == "cuda"
        _atomic_torch_save(self.resume, {
            "fingerprint": self.fingerprint, "step": self.step, "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "rng_cpu": torch.random.get_rng_state(), "rng_cuda": torch.cuda.get_rng_state(self.dev) if cuda else None,
            "metrics": self.metrics, "seconds": self.seconds, "loss_sum": self.loss_sum, "loss_n": self.loss_n})

    def evaluate(self, val_ids: torch.Tensor, with_probe: bool) -> dict:
        """Step, tokens seen, mean train loss since the last record, LR, validation loss (and the probe)."""
        tc, dev = self.tc, self.dev
        rec = {"step": self.step, "tokens_seen": self.step * tc.batch_size * tc.seq_len,
               "train_loss": self.loss_sum / self.loss_n if self.loss_n else None,
               "lr": tc.lr * tc.lr_factor(self.step)}
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            rec["val_loss"] = validation_loss(self.model, val_ids, tc.batch_size, dev)
            if with_probe and self.probe is not None:
                self.model.eval()
                try:
                    with torch.no_grad():
                        rec.update({str(k): v for k, v in dict(self.probe(self.model, self.tokenizer)).items()})
                finally:
                    self.model.train()
        return rec

    def checkpoint(self, rec: dict) -> None:
        """``checkpoints/step-NNNNNN/``: model, tokenizer and training state, written then renamed."""
        state = {**rec, "seed": self.tc.seed, "model_config": dataclasses.asdict(self.cfg),
                 "training": dataclasses.asdict(self.tc), "train_tokens": self.fingerprint["train_tokens"]}

        def write(tmp: Path) -> None:
            from transformers.utils import logging as hf_logging
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()        # one "Writing model shards" bar per checkpoint is noise
            try:
                self.model.save_pretrained(tmp)
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
            self.tokenizer.save_pretrained(tmp)
            atomic_write_json(tmp / _STATE_FILE, state)

        _atomic_save_dir(self.out_dir / "checkpoints" / f"step-{self.step:06d}", write)

    def record(self, val_ids: torch.Tensor, at_checkpoint: bool) -> None:
        tc = self.tc
        with_probe = at_checkpoint or (tc.probe_every and self.step % tc.probe_every == 0)
        rec = self.evaluate(val_ids, bool(with_probe))
        self.metrics.append(rec)
        self.loss_sum, self.loss_n = 0.0, 0
        if at_checkpoint:
            self.checkpoint(rec)
        atomic_write_json(self.out_dir / "metrics.json", self.metrics)

    def train_step(self, ids: torch.Tensor) -> None:
        loss = self.model(input_ids=ids, labels=ids).loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
        self.opt.step()
        self.sched.step()
        self.step += 1
        self.loss_sum += float(loss.detach())
        self.loss_n += 1

    def run(self, batches: _Batches, val_ids: torch.Tensor, progress: bool, stop_after_steps: int | None) -> bool:
        """Train to ``tc.steps`` from the current step; False when stopped by ``stop_after_steps``.

        Time spent on evaluation and saving is left out of :attr:`seconds` (training throughput).
        """
        from logitrank.progress import progress as progress_bar
        tc = self.tc
        ckpt_steps = set(tc.checkpoints())
        self.model.train()
        bar = progress_bar(total=tc.steps, initial=self.step, file=sys.stderr, disable=not progress, desc="training",
                           unit="step", dynamic_ncols=True)
        try:
            if self.step == 0 and not self.metrics:
                self.record(val_ids, at_checkpoint=True)               # the untrained model, step 0
                self.save_resume()
            t0 = time.perf_counter()
            while self.step < tc.steps:
                if stop_after_steps is not None and self.step >= stop_after_steps:
                    return False
                self.train_step(batches(self.step).to(self.dev))
                step = self.step
                at_ckpt = step in ckpt_steps
                if at_ckpt or (tc.eval_every and step % tc.eval_every == 0) or \
                        (tc.probe_every and step % tc.probe_every == 0):
                    self.seconds += time.perf_counter() - t0
                    self.record(val_ids, at_ckpt)
                    t0 = time.perf_counter()
                    bar.set_postfix(train=f"{self.metrics[-1]['train_loss']:.3f}",
                                    val=f"{self.metrics[-1]['val_loss']:.3f}")
                if at_ckpt or step % tc.save_every == 0:
                    self.seconds += time.perf_counter() - t0
                    self.save_resume()
                    t0 = time.perf_counter()
                bar.update(1)
            self.seconds += time.perf_counter() - t0
        finally:
            bar.close()
        return True
