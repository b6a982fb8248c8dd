"""``logitrank weights …``: lens 2, a model's weight matrices against random-matrix theory.

``weights analyze`` runs :func:`~logitrank.real_models.weights.analyze_weight_matrices`
(per matrix type, with a progress bar) and ``weights removal``
:func:`~logitrank.real_models.removal.decile_removal`. Shared options and ``--out DIR`` as
everywhere (:mod:`logitrank.commands._options`, :mod:`logitrank.commands._output`).

References
----------
Staats, Thamm & Rosenow (2024), "Locating Information in Large Language Models via Random
Matrix Theory" (MP consistency, outliers, decile removal).
"""

from __future__ import annotations

from typing import Annotated

import typer

from logitrank.commands._model import loaded_model, text_splits
from logitrank.commands._options import (
    Device,
    Dtype,
    Model,
    Offset,
    Out,
    Seed,
    Stride,
    Text,
    Threads,
    Twin,
    check_against_model,
    check_model_options,
    check_positive,
    check_windows,
)
from logitrank.commands._output import run_cached
from logitrank.errors import InvalidInputError

__all__ = ["app", "analyze", "removal"]

app = typer.Typer(help="Weights lens: weight matrices vs random-matrix theory (Staats, Thamm & Rosenow 2024).",
                  no_args_is_help=True, add_completion=False)


def _mean_defined(values) -> float:
    import numpy as np
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _type_summary(rows) -> dict:
    import numpy as np
    by: dict = {}
    for r in rows:
        by.setdefault(r["type"], []).append(r)
    return {t: {"n": len(rs), "mp_consistent": float(np.mean([r["consistent_mp"] for r in rs])),
                "n_below": float(np.mean([r["n_below"] for r in rs])),
                "n_above": float(np.mean([r["n_above"] for r in rs])),
                "ks_distance": float(np.mean([r["ks_distance"] for r in rs])),
                # matrices with fewer than three levels in the bulk (a Mamba x_proj, a
                # reshaped conv kernel) have no spacing ratio; the mean is over those that do
                "spacing_ratio": _mean_defined([r["spacing_ratio"] for r in rs]),
                "alpha_median": float(np.nanmedian([r.get("alpha", np.nan) for r in rs]))}
            for t, rs in by.items()}


@app.command()
def analyze(
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    vectors: Annotated[bool, typer.Option("--vectors", help="Also singular-vector statistics (Porter–Thomas, "
                                                            "IPR).")] = False,
    include_embeddings: Annotated[bool, typer.Option("--include-embeddings", help="Also embeddings / LM head.")]
    = False,
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Per-type MP consistency, outliers below|above the band, KS, spacing ratio and α of every weight matrix."""
    check_model_options(model, device, dtype, threads=threads, tokenizer=False)
    inputs = dict(model=model, twin=twin, dtype=dtype, vectors=vectors, include_embeddings=include_embeddings,
                  threads=threads)
    def compute(od):
        import numpy as np

        from logitrank.progress import progress
        from logitrank.real_models.weights import analyze_weight_matrices
        with loaded_model(model, dtype=dtype, device="cpu", twin=twin, threads=threads) as (lm, used):
            mats = lm.weight_matrices(include_embeddings=include_embeddings)
            groups: dict = {}
            for wm in mats:
                groups.setdefault(wm.matrix_type, []).append(wm)
            rows, svd_s, diag_s, dev = [], 0.0, 0.0, "cpu"
            # One call per matrix type (the diagnostics are per matrix), so the bar moves.
            for group in progress(groups.values(), desc="weights: decompose + diagnose", unit="type", leave=False):
                res = analyze_weight_matrices(group, vectors=vectors, device=device)
                rows += list(res.rows)
                svd_s += res.svd_seconds
                diag_s += res.diagnostics_seconds
                dev = res.device
            order = {wm.name: i for i, wm in enumerate(mats)}
            rows.sort(key=lambda r: order[r["name"]])           # the model's matrix order, as in one call
        fields: list = []
        for r in rows:
            fields += [k for k in r if k not in fields and not isinstance(r[k], (list, tuple, dict, np.ndarray))]
        outputs = {"n_matrices": len(rows), "svd_seconds": svd_s, "diagnostics_seconds": diag_s, "device": dev,
                   "threads_used": used, "by_type": _type_summary(rows)}
        types = list(outputs["by_type"])

        def draw(fig):
            ax = fig.add_subplot()
            ax.bar(range(len(types)), [outputs["by_type"][t]["mp_consistent"] for t in types])
            ax.set_xticks(range(len(types)), types, rotation=45, ha="right", fontsize=8)
            ax.set_ylabel("fraction MP-consistent")
            ax.set_ylim(0, 1)
            ax.set_title(f"weights of {model}{' (twin)' if twin is not None else ''}", fontsize=9)

        return outputs, dict(tables={"matrices.csv": (fields, [[r.get(f, "") for f in fields] for r in rows]),
                                     "by_type.csv": (["type", *outputs["by_type"][types[0]]],
                                                     [[t, *outputs["by_type"][t].values()] for t in types])},
                             figure=draw, figure_name="weights.png")

    run_cached(out, "weights analyze", inputs, compute, _report_analyze)


def _report_analyze(o: dict) -> None:
    typer.echo(f"{o['n_matrices']} matrices; decomposition {o['svd_seconds']:.1f} s on {o['device']}, "
               f"diagnostics {o['diagnostics_seconds']:.1f} s")
    typer.echo(f"{'type':18s} {'n':>4s} {'MP-consistent':>13s} {'below|above':>12s} {'KS':>6s} {'<r>':>6s} {'alpha':>6s}")
    for t, s in o["by_type"].items():
        ba = f"{s['n_below']:.1f}|{s['n_above']:.1f}"
        typer.echo(f"{t:18s} {s['n']:4d} {s['mp_consistent']:13.0%} {ba:>12s} {s['ks_distance']:6.3f} "
                   f"{s['spacing_ratio']:6.3f} {s['alpha_median']:6.2f}")


@app.command()
def removal(
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    seed: Seed = 2,
    text: Text = None,
    stride: Stride = None,
    offset: Offset = 0,
    types: Annotated[list[str] | None, typer.Option("--type", help="Matrix type (repeatable); default all.")]
    = None,
    sequences: Annotated[int, typer.Option(help="Number of held-out sequences (text windows or model samples).")]
    = 4,
    length: Annotated[int, typer.Option(help="Tokens per sequence.")] = 64,
    threads: Threads = None,
    out: Out = None,
) -> None:
    """ΔPerplexity when one decile of singular values of one matrix type is zeroed in all blocks."""
    check_positive(sequences=sequences, length=length)
    from logitrank.real_models.weights import MATRIX_TYPES
    unknown = [t for t in types or () if t not in MATRIX_TYPES]
    if unknown:
        raise InvalidInputError(f"unknown --type {', '.join(map(repr, unknown))}; choose from {', '.join(MATRIX_TYPES)}")
    check_model_options(model, device, dtype, threads=threads, text=text)
    check_windows(text, {"held_out": (sequences, length)}, stride=stride, offset=offset)
    check_against_model(model, tokens_per_query={"--length": length}, prefix_tokens=0)
    inputs = dict(model=model, twin=twin, dtype=dtype, seed=seed, text=text, stride=stride, offset=offset,
                  types=types, sequences=sequences, length=length, threads=threads)
    def compute(od):
        import numpy as np
        import torch

        from logitrank.progress import progress
        from logitrank.real_models.removal import decile_removal
        with loaded_model(model, dtype=dtype, device=device, twin=twin, threads=threads) as (lm, used):
            if text is None:
                toks = torch.from_numpy(lm.sample_tokens(sequences, length, seed, method="generate"))
                sources = {"held_out": f"model generations, seed {seed}"}
            else:
                seqs, sources = text_splits(lm, text, {"held_out": (sequences, length)}, seed=seed, stride=stride,
                                            offset=offset)
                toks = torch.as_tensor(np.stack(seqs["held_out"]))
            mats = lm.weight_matrices()
            n_types = len(types) if types else len({wm.matrix_type for wm in mats})
            bar = progress(total=n_types * 10, desc="weights removal", unit="eval", leave=False)
            res = decile_removal(lm, mats, toks.to(lm.device), types=types, progress=lambda *a: bar.update(1))
            bar.close()
        outputs = {"base_perplexity": float(res.base_perplexity), "n_tokens": int(res.n_tokens),
                   "types": list(res.types), "delta_perplexity": np.asarray(res.delta_perplexity).tolist(),
                   "threads_used": used, "device": str(lm.device), "text_sources": sources}
        d = np.asarray(outputs["delta_perplexity"])

        def draw(fig):
            ax = fig.add_subplot()
            im = ax.imshow(d, aspect="auto", cmap="viridis")
            ax.set_yticks(range(len(res.types)), res.types, fontsize=8)
            ax.set_xticks(range(10), [f"D{i}" for i in range(1, 11)], fontsize=8)
            ax.set_xlabel("decile removed (D1 = smallest singular values)")
            fig.colorbar(im, ax=ax, label="ΔPPL")
            ax.set_title(f"decile removal on {model}", fontsize=9)

        return outputs, dict(tables={"delta_perplexity.csv": (["type", *[f"D{i}" for i in range(1, 11)]],
                                                              [[t, *row] for t, row in zip(res.types, d.tolist())])},
                             figure=draw, figure_name="removal.png")

    run_cached(out, "weights removal", inputs, compute, _report_removal)


def _report_removal(o: dict) -> None:
    typer.echo(f"base perplexity {o['base_perplexity']:.3f} on {o['n_tokens']} tokens; ΔPPL by decile "
               f"(D1 = smallest):")
    for t, row in zip(o["types"], o["delta_perplexity"]):
        typer.echo(f"{t:18s} " + " ".join(f"{v:9.3g}" for v in row))
