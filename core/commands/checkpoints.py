"""``logitrank checkpoints``: the over-training table and figure of a checkpoint series.

Takes checkpoint directories (``save_pretrained`` output, e.g. ``runs/d64/checkpoints/step-*``
of ``trained_lms``) or one hub id with ``--revisions`` (Pythia and OLMo publish theirs as
``revision="step…"``), and writes into ``--out``:

- ``training_dynamics.json`` + ``singular_values.npz`` — the same result type as the
  ``training_dynamics`` experiment (:class:`~logitrank.experiments.training_dynamics.TrainingDynamicsResult`),
  computed by the same per-checkpoint function;
- ``checkpoints.csv`` — one row per checkpoint (α with interval, KL at rank r with interval,
  held-out loss, MP-consistent fraction, outlier counts);
- ``training_dynamics.png``/``.pdf`` — the figure of ``paper_figs/training_dynamics.py``;
- ``result.json`` — written last: the command finished. It is removed at the start of a run,
  so a killed run never leaves a table that looks complete. Per-checkpoint records under
  ``points/`` are keyed by checkpoint and settings; a rerun reuses only matching ones.

Every input is checked before any model loads: missing directories, directories without a
model or tokenizer, checkpoints whose tokenizers differ, and a corpus too small for the
requested windows raise one-line errors (exit code 2).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import typer

from logitrank.commands._options import (
    Device,
    Dtype,
    Out,
    Seed,
    Text,
    Threads,
    check_device,
    check_dtype,
    check_text,
    check_threads,
    check_windows,
)
from logitrank.commands._output import package_version
from logitrank.errors import InvalidInputError

__all__ = ["checkpoints", "resolve_series"]


@dataclasses.dataclass(frozen=True)
class _Checkpoint:
    label: str
    step: int
    source: str
    revision: str | None


def _step_of(label: str, path: Path | None) -> int:
    """The training step of a checkpoint: its ``training_state.json``, else a step its name states —
    ``step-000012``, ``step1000-tokens4B`` (OLMo), ``step143000`` (Pythia), ``checkpoint-500`` (Trainer)
    or a bare number. Any other name is refused: a step guessed from stray digits would misorder them."""
    if path is not None and (path / "training_state.json").is_file():
        return int(json.loads((path / "training_state.json").read_text())["step"])
    named = re.search(r"(?:step|checkpoint)[-_]?(\d+)", label) or re.fullmatch(r"(\d+)", label)
    if named:
        return int(named.group(1))
    where = f"{path}" if path is not None else f"revision {label!r}"
    raise InvalidInputError(f"cannot tell the training step of {where}: name it step-N (or checkpoint-N) or put a "
                            f"training_state.json with its \"step\" in it")


def resolve_series(dirs, model: str | None, revisions: str | None) -> list[_Checkpoint]:
    """The checkpoints in step order; raises InvalidInputError for a bad list (nothing loaded)."""
    dirs = [Path(d) for d in dirs or []]
    if model and dirs:
        raise InvalidInputError("give checkpoint directories or --model with --revisions, not both")
    if model:
        revs = [r.strip() for r in (revisions or "").split(",") if r.strip()]
        if len(revs) < 2:
            raise InvalidInputError("--model needs --revisions with at least two revisions, e.g. step0,step1000")
        series = [_Checkpoint(r, _step_of(r, None), model, r) for r in revs]
    else:
        if len(dirs) < 2:
            raise InvalidInputError("give at least two checkpoint directories (or --model with --revisions)")
        for d in dirs:
            if not d.is_dir():
                raise InvalidInputError(f"checkpoint directory {d} does not exist; check the path")
            if not (d / "config.json").is_file():
                raise InvalidInputError(f"{d} has no config.json: not a save_pretrained model directory")
        series = [_Checkpoint(d.name, _step_of(d.name, d), str(d), None) for d in dirs]
    steps = [c.step for c in series]
    if len(set(steps)) != len(steps):
        raise InvalidInputError(f"checkpoints have repeated steps {steps}; name them so each step appears once")
    return sorted(series, key=lambda c: c.step)


def _tokenizers(series: list[_Checkpoint]):
    """Each checkpoint's tokenizer (cheap, no weights); they must all be the same vocabulary."""
    from transformers import AutoTokenizer
    toks, hashes = [], []
    for c in series:
        try:
            tok = AutoTokenizer.from_pretrained(c.source, revision=c.revision, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"checkpoint {c.label} ({c.source}) has no loadable tokenizer "
                                    f"({str(exc).splitlines()[0][:120]}); save the tokenizer with the model") from None
        blob = json.dumps(sorted(tok.get_vocab().items()), separators=(",", ":"))
        toks.append(tok)
        hashes.append(hashlib.sha256(blob.encode()).hexdigest())
    for c, h in zip(series[1:], hashes[1:]):
        if h != hashes[0]:
            raise InvalidInputError(f"checkpoint {c.label} has a different tokenizer than {series[0].label}; a series "
                                    f"must share one tokenizer (compare their tokenizer.json)")
    return toks[0]


def _write_csv(path: Path, points: list[dict]) -> None:
    from logitrank.io import atomic_write_text
    cols = ["label", "step", "alpha", "alpha_low", "alpha_high", "kl_at_rank", "kl_low", "kl_high", "val_loss",
            "mp_consistent", "mp_n_matrices", "mp_consistent_fraction", "mean_n_below_band", "mean_n_above_band"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for p in points:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in p.items()})
    atomic_write_text(path, buf.getvalue())


def checkpoints(
    dirs: list[Path] = typer.Argument(None, help="Checkpoint directories (save_pretrained), any order."),
    model: str | None = typer.Option(None, "--model", help="A hub id (local HF cache) instead of directories."),
    revisions: str | None = typer.Option(None, "--revisions", help="Comma-separated revisions of --model, "
                                         "e.g. step0,step1000,step143000."),
    out: Out = None,
    text: Text = "shakespeare",
    n_histories: int = typer.Option(192, help="|H| (held-out windows)."),
    history_length: int = typer.Option(24, help="Tokens per history."),
    n_futures: int = typer.Option(24, help="|F|."),
    future_length: int = typer.Option(3, help="Tokens per future."),
    k: int = typer.Option(50, help="Tokens per future (columns), rule topk_average."),
    rank: int = typer.Option(8, help="r of the rank-r approximation whose average KL is reported."),
    n_boot: int = typer.Option(50, help="Bootstrap replicates for the α interval."),
    seed: Seed = 0,
    device: Device = None,
    dtype: Dtype = "float32",
    threads: Threads = None,
) -> None:
    """α, KL at rank r, held-out loss and MP consistency of every checkpoint: CSV, result and figure into --out."""
    import numpy as np
    import torch

    from logitrank.experiments.training_dynamics import TrainingDynamicsConfig, TrainingDynamicsResult, checkpoint_point
    from logitrank.io import atomic_save_npz, atomic_write_json, config_hash, read_json
    from logitrank.paper_figs import training_dynamics as figure
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.corpus import read_corpus
    from logitrank.real_models.runtime import resolve_device, torch_threads
    from logitrank.real_models.training import validation_loss

    # --- validate everything before a model loads ---
    config = TrainingDynamicsConfig(n_histories=n_histories, history_length=history_length, n_futures=n_futures,
                                    future_length=future_length, k=k, rank=rank, n_boot=n_boot, seed=seed,
                                    threads=threads)
    if out is None:
        raise InvalidInputError("--out DIR is required: the table, result.json and figure are written there")
    if min(n_histories, history_length, n_futures, future_length, k, rank, n_boot) < 1 or n_boot < 2:
        raise InvalidInputError("sizes, k and rank must be >= 1 and --n-boot >= 2")
    if Path(out).is_file():
        raise InvalidInputError(f"--out {out} is an existing file; --out needs a directory")
    check_text(text)
    check_device(device)
    check_dtype(dtype)
    check_threads(threads)
    check_windows(text, {"histories": (n_histories, history_length), "futures": (n_futures, future_length)},
                  stride=None, offset=0)
    dev = resolve_device(device)
    series = resolve_series(dirs, model, revisions)
    tok = _tokenizers(series)
    windows = read_corpus(text, tok).windows({"histories": (n_histories, history_length),
                                                "futures": (n_futures, future_length)}, seed=seed)
    H, F = windows["histories"].tokens, windows["futures"].tokens
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"--out {out}: cannot write there ({exc.strerror or exc}); give a directory you "
                                f"can write to") from None
    (out / "result.json").unlink(missing_ok=True)          # a killed run leaves no completion marker
    settings = {"config": dataclasses.asdict(config), "text": text, "dtype": dtype}
    points, svals, d_models = [], {}, set()
    with torch_threads(threads):
        n_threads = torch.get_num_threads()
        for c in series:
            key = config_hash({**settings, "source": c.source, "revision": c.revision})
            rec_path = out / "points" / f"{c.step:09d}-{key}.json"
            if rec_path.exists():
                rec = read_json(rec_path)
                with np.load(rec_path.with_suffix(".npz")) as z:
                    s = z["s"]
            else:
                typer.echo(f"checkpoint {c.label} (step {c.step}) …", err=True)
                lm = HFCausalLM.load(c.source, revision=c.revision, device=str(dev), dtype=dtype)
                d_model = int(lm.model.config.hidden_size)
                rec, s = checkpoint_point(lm, H, F, config, d_model, np.random.default_rng([seed, c.step]))
                ids = torch.tensor(np.asarray([[*lm.prefix_tokens, *h] for h in H], dtype=np.int64))
                rec.update(label=c.label, step=c.step, d_model=d_model,
                           val_loss=validation_loss(lm.model, ids, 32, lm.device))
                atomic_save_npz(rec_path.with_suffix(".npz"), s=s)
                atomic_write_json(rec_path, rec)
            points.append(rec)
            svals[f"series/{c.step}"] = s
            d_models.add(rec["d_model"])
    result = TrainingDynamicsResult(config=dataclasses.asdict(config), widths=("series",),
                                    d_model={"series": max(d_models)}, points={"series": points},
                                    singular_values=svals, n_train_tokens=0, threads=int(n_threads))
    result.save(out)
    _write_csv(out / "checkpoints.csv", points)
    files = [str(p.name) for p in figure.plot(out, out)]
    atomic_write_json(out / "result.json", {"command": "checkpoints", "version": package_version(),
                                            "checkpoints": [dataclasses.asdict(c) for c in series],
                                            "text": text, "dtype": dtype, "device": str(dev),
                                            "threads": int(n_threads), "config": dataclasses.asdict(config),
                                            "files": ["training_dynamics.json", "singular_values.npz",
                                                      "checkpoints.csv", *files]})
    for p in points:
        typer.echo(f"{p['label']:>20s} step {p['step']:>8d}: α = {p['alpha']:.3f} [{p['alpha_low']:.3f}, "
                   f"{p['alpha_high']:.3f}], KL@{rank} = {p['kl_at_rank']:.3g}, loss {p['val_loss']:.3f}, "
                   f"MP-consistent {p['mp_consistent']}/{p['mp_n_matrices']}")
    typer.echo(f"wrote {out / 'checkpoints.csv'}, {out / 'result.json'} and the figure")
