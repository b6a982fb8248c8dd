"""``logitrank reps …``: lens 3, the latent-concept simulation and concept directions in a real LM.

``simulate`` trains the latent-concept model of Jiang et al. (2024) (:mod:`logitrank.sim`);
``pairs``, ``cosines``, ``steer`` and ``identity`` use the real-model functions of
:mod:`logitrank.real_models.linear_reps` on the one model object. Shared options and
``--out DIR`` as everywhere. Concept names take ASCII aliases (``male=>female``,
``male-female`` for ``male⇒female``).

References
----------
Jiang et al. (2024), "On the Origins of Linear Representations in Large Language Models";
Park, Choe & Veitch (2024), "The Linear Representation Hypothesis and the Geometry of Large
Language Models" (causal inner product, eq. 4.2 steering).
"""

from __future__ import annotations

from typing import Annotated

import typer

from logitrank.commands._model import loaded_model
from logitrank.commands._options import (
    Device,
    Dtype,
    Model,
    Out,
    Seed,
    Threads,
    Twin,
    check_model_options,
    check_positive,
    concept_name,
    parse_floats,
)
from logitrank.commands._output import OutDir, open_out, progress_note
from logitrank.errors import InvalidInputError

__all__ = ["app", "simulate", "pairs", "cosines", "steer", "identity"]

app = typer.Typer(help="Representations lens: latent-concept simulation and concept directions in a real LM.",
                  no_args_is_help=True, add_completion=False)


def _prepare(command: str, out, model, device, dtype, threads, **inputs):
    """Validate the shared options, then open --out; the stored record of an identical run or None."""
    check_model_options(model, device, dtype, threads=threads)
    return open_out(out, command, dict(model=model, dtype=dtype, threads=threads, **inputs))


@app.command()
def simulate(
    m: Annotated[int, typer.Option(help="Number of binary concepts (vocabulary 2^m).")] = 4,
    optimizer: Annotated[str, typer.Option(help="sgd, adam or gd (full-batch on the exact loss).")] = "sgd",
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: sgd 0.1, adam 1e-3, gd 1.0).")] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 5000,
    seeds: Annotated[int, typer.Option(help="Number of runs (seeds SEED .. SEED+n-1).")] = 3,
    seed: Seed = 0,
    edge_prob: Annotated[float, typer.Option(help="Edge probability of the random DAG (0 = independent).")] = 0.5,
    out: Out = None,
) -> None:
    """Train the latent-concept model and print within-concept cosines (Jiang et al. Tables 1-2)."""
    check_positive(m=m, steps=steps, seeds=seeds)
    if optimizer not in ("sgd", "adam", "gd"):
        raise InvalidInputError(f"unknown --optimizer {optimizer!r}; choose sgd, adam or gd")
    if not 0 <= edge_prob <= 1:
        raise InvalidInputError(f"--edge-prob must be in [0, 1], got {edge_prob}")
    od = OutDir(out, "reps simulate", dict(m=m, optimizer=optimizer, lr=lr, steps=steps, seeds=seeds, seed=seed,
                                           edge_prob=edge_prob))
    rec = od.open()
    if rec is None:
        from logitrank.sim.concept_training import train_concept_models
        progress_note(f"training {seeds} latent-concept models for {steps} steps …")
        res = train_concept_models(m, seeds=range(seed, seed + seeds), optimizer=optimizer, lr=lr, n_steps=steps,
                                   edge_prob=edge_prob)
        outputs = {"summary": res.summary(), "final_loss": [float(x) for x in res.loss_history[-1]],
                   "loss_history": res.loss_history.tolist()}
        names = list(outputs["summary"])
        stats = list(outputs["summary"][names[0]])

        def draw(fig):
            ax = fig.add_subplot()
            ax.semilogy(outputs["loss_history"])
            ax.set_xlabel("logged step")
            ax.set_ylabel("loss")
            ax.set_title(f"latent-concept model, m = {m}, {optimizer}", fontsize=9)

        rec = od.finish(outputs, tables={"cosines.csv": (["metric", *stats],
                                                         [[n, *outputs["summary"][n].values()] for n in names])},
                        figure=draw, figure_name="loss.png")
    else:
        progress_note(f"reusing {out}/result.json (same inputs)")
    o = rec["outputs"]
    for name, s in o["summary"].items():
        typer.echo(f"{name:12s} mean {s['mean']:.3f}  std {s['std']:.3f}  min {s['min']:.3f}  max {s['max']:.3f}")
    typer.echo(f"final loss per run: {[round(x, 3) for x in o['final_loss']]}")


@app.command()
def pairs(
    model: Model = "smollm2",
    device: Device = None,
    dtype: Dtype = "float32",
    verbose: Annotated[bool, typer.Option(help="List every skipped pair.")] = False,
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Filter the built-in counterfactual word pairs to single tokens; kept/skipped counts per concept."""
    od, rec = _prepare("reps pairs", out, model, device, dtype, threads)
    if rec is None:
        from logitrank.real_models.linear_reps import filter_single_token_pairs
        from logitrank.real_models.word_pairs import WORD_PAIRS
        with loaded_model(model, dtype=dtype, device=device or "cpu", twin=None, threads=threads) as (lm, _):
            res = filter_single_token_pairs(lm.tokenizer, WORD_PAIRS)
        counts = res.counts()
        outputs = {"counts": counts, "skipped": {k: [[p[0], p[1], why] for p, why in v]
                                                 for k, v in res.skipped.items()}}
        rec = od.finish(outputs, tables={"pairs.csv": (["concept", "kept", "skipped"],
                                                       [[c, v["kept"], v["skipped"]] for c, v in counts.items()])},
                        figure=lambda fig: _bars(fig, counts, "kept", "single-token pairs kept"),
                        figure_name="pairs.png")
    o = rec["outputs"]
    for name, c in o["counts"].items():
        typer.echo(f"{name:22s} kept {c['kept']:3d}  skipped {c['skipped']:3d}")
        if verbose:
            for a, b, why in o["skipped"].get(name, []):
                typer.echo(f"    {a} → {b}: {why}")


def _bars(fig, values: dict, key: str | None, ylabel: str) -> None:
    ax = fig.add_subplot()
    names = list(values)
    ax.bar(range(len(names)), [values[n][key] if key else values[n] for n in names])
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)


@app.command()
def cosines(
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Within- vs across-concept cosines of unembedding differences, Euclidean and causal (Park et al.)."""
    od, rec = _prepare("reps cosines", out, model, device, dtype, threads, twin=twin)
    if rec is None:
        from logitrank.real_models.linear_reps import causal_whitening, concept_cosine_tables, filter_single_token_pairs
        from logitrank.real_models.word_pairs import WORD_PAIRS
        with loaded_model(model, dtype=dtype, device=device or "cpu", twin=twin, threads=threads) as (lm, _):
            p = filter_single_token_pairs(lm.tokenizer, WORD_PAIRS)
            g = lm.unembedding()
            tables = {label: concept_cosine_tables(X, p)
                      for label, X in (("Euclidean", g), ("causal", causal_whitening(g).whiten(g)))}
        outputs = {label: {"within": float(c.within), "across": float(c.across), "across_abs": float(c.across_abs),
                           "concepts": list(c.concepts), "pairwise": c.pairwise.tolist()}
                   for label, c in tables.items()}

        def draw(fig):
            for j, (label, o) in enumerate(outputs.items()):
                ax = fig.add_subplot(1, 2, j + 1)
                im = ax.imshow(o["pairwise"], vmin=-1, vmax=1, cmap="RdBu_r")
                ax.set_title(label, fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
            fig.colorbar(im, ax=fig.axes, shrink=0.7)

        rows = [[label, o["within"], o["across"], o["across_abs"]] for label, o in outputs.items()]
        rec = od.finish(outputs, tables={"cosines.csv": (["inner_product", "within", "across", "across_abs"], rows)},
                        figure=draw, figure_name="cosines.png")
    for label, c in rec["outputs"].items():
        typer.echo(f"{label:10s} within {c['within']:.3f}  across {c['across']:.3f}  |across| {c['across_abs']:.3f}")


@app.command()
def steer(
    prompt: Annotated[str, typer.Option(help="Context whose next token is steered.")] = "Long live the",
    concept: Annotated[str, typer.Option(help="Concept of the built-in word pairs (ASCII: male=>female or "
                                              "male-female).")] = "male=>female",
    alphas: Annotated[str, typer.Option(help="Comma-separated steering strengths.")] = "0,0.2,0.4,0.6,0.8",
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Add α·Cov(γ)⁻¹γ̄_W to the final hidden state and print the top next tokens (Park et al. eq. 4.2)."""
    from logitrank.real_models.word_pairs import WORD_PAIRS
    name = concept_name(concept, WORD_PAIRS)
    values = parse_floats(alphas, "alphas")
    if not prompt.strip():
        raise InvalidInputError("--prompt is empty; give the context whose next token is steered")
    od, rec = _prepare("reps steer", out, model, device, dtype, threads, twin=twin, prompt=prompt, concept=name,
                       alphas=values)
    if rec is None:
        from logitrank.real_models.linear_reps import causal_whitening, filter_single_token_pairs, steering_ranks
        with loaded_model(model, dtype=dtype, device=device or "cpu", twin=twin, threads=threads) as (lm, _):
            p = filter_single_token_pairs(lm.tokenizer, {name: WORD_PAIRS[name]})
            tp = p.token_pairs[name]
            if len(tp) == 0:
                raise InvalidInputError(f"concept {name!r} has no single-token pairs under this tokenizer; "
                                        f"pick another --concept (see `logitrank reps pairs`)")
            g = lm.unembedding()
            v = causal_whitening(g).steering_vector((g[tp[:, 1]] - g[tp[:, 0]]).mean(0))
            rows = steering_ranks(lm, prompt, v, values)
        outputs = {"rows": [{"alpha": r["alpha"], "top": r["top"]} for r in rows]}
        rec = od.finish(outputs, tables={"steer.csv": (["alpha", *[f"top{i + 1}" for i in range(len(rows[0]["top"]))]],
                                                       [[r["alpha"], *r["top"]] for r in rows])})
    for row in rec["outputs"]["rows"]:
        typer.echo(f"α={row['alpha']:.2f}: {row['top']}")


@app.command()
def identity(
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    text: Annotated[str, typer.Option("--prompt", help="Text whose positions are checked.")]
    = "The capital of France is Paris.",
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Check the centered-logit identity L[z|p] = φ(p)ᵀ(ψ(z) − ψ̄) at every position of a text."""
    if not text.strip():
        raise InvalidInputError("--prompt is empty; give a text whose positions are checked")
    od, rec = _prepare("reps identity", out, model, device, dtype, threads, twin=twin, prompt=text)
    if rec is None:
        import numpy as np

        from logitrank.real_models.linear_reps import centered_logit_identity_error
        with loaded_model(model, dtype=dtype, device=device or "cpu", twin=twin, threads=threads) as (lm, _):
            outputs = centered_logit_identity_error(lm, np.array([lm.encode(text)]))
        rec = od.finish(outputs, tables={"identity.csv": (list(outputs), [list(outputs.values())])})
    o = rec["outputs"]
    typer.echo(f"centered-logit identity on {o['n_positions']} positions: max |error| {o['max_abs_error']:.3g} "
               f"(relative {o['max_rel_error']:.3g} of the logit scale {o['logit_scale']:.3g})")
