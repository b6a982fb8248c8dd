"""``logitrank learn …``: the query learner vs the sample-only spectral learner.

``isan`` and ``parity`` run on synthetic models (:mod:`logitrank.sim.learning`); ``smollm2``
runs the query learner on a real LM restricted to a few tokens
(:func:`logitrank.experiments.learning_smollm2.real_model_demo` on the one model object). Every command takes
``--out DIR`` (:mod:`logitrank.commands._output`).

References
----------
Golowich, Liu, Shetty (2025), §6 (learning low-logit-rank models from logit queries).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from logitrank.commands._model import load_model
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
)
from logitrank.commands._output import open_out
from logitrank.errors import InvalidInputError

__all__ = ["app", "isan", "parity", "smollm2"]

app = typer.Typer(help="Learn low-logit-rank models from logit queries (and the spectral baseline).",
                  no_args_is_help=True, add_completion=False)




@app.command()
def isan(
    vocab: Annotated[int, typer.Option(help="Alphabet size |Σ|.")] = 3,
    horizon: Annotated[int, typer.Option(help="Horizon T.")] = 5,
    dim: Annotated[int, typer.Option(help="Hidden dimension d of the random ISAN.")] = 2,
    epsilon: Annotated[float, typer.Option(help="Target TV ε.")] = 0.05,
    noise: Annotated[float, typer.Option(help="Oracle error ξ (uniform, per logit).")] = 0.0,
    seed: Seed = 0,
    out: Out = None,
) -> None:
    """Learn a random time-varying ISAN from logit queries; print queries, samples and exact TV."""
    from logitrank.sim.learning import learn_random_isan
    od, rec = open_out(out, "learn isan", dict(vocab=vocab, horizon=horizon, dim=dim, epsilon=epsilon, noise=noise,
                                             seed=seed))
    if rec is None:
        r = learn_random_isan(vocab, horizon, dim, seed, epsilon=epsilon, noise=noise)
        rec = od.finish(dataclasses.asdict(r))
    r = rec["outputs"]
    typer.echo(f"queries {r['queries']}, samples {r['samples']}, epochs {r['epochs']}, witnesses {r['witnesses']}, "
               f"ranks {list(r['ranks'])}, converged {r['converged']}")
    typer.echo(f"exact TV(M, M̂) = {r['tv']:.3g} (target ε = {epsilon})")


@app.command()
def parity(
    n_bits: Annotated[int, typer.Option(help="Number of bits n (horizon n + 1).")] = 12,
    noise: Annotated[float, typer.Option(help="Label noise η of the parity.")] = 0.1,
    seed: Seed = 0,
    out: Out = None,
) -> None:
    """Noisy parity: query learner vs spectral learner with the same budget in samples."""
    from logitrank.sim.learning import parity_comparison
    od, rec = open_out(out, "learn parity", dict(n_bits=n_bits, noise=noise, seed=seed))
    if rec is None:
        rec = od.finish(parity_comparison(n_bits, seed, noise=noise))
    r = rec["outputs"]
    typer.echo(f"query learner: {r['query_queries']} queries + {r['query_samples']} samples, "
               f"TV {r['query_tv']:.3g} ({r['tv_method']})")
    typer.echo(f"spectral learner: {r['spectral_samples']} samples, TV {r['spectral_tv']:.3g} "
               f"(a parity-blind model has TV {r['tv_uniform_last_bit']:.2f})")


@app.command()
def smollm2(
    tokens: Annotated[list[str] | None, typer.Option(
        "--token", help="Single-token texts of the alphabet (repeatable; default: ' red' ' green' ' blue' "
                        "' yellow').")] = None,
    prompt: Annotated[str, typer.Option(help="Prompt conditioning every sequence.")]
    = "My favourite colours, in order:",
    horizon: Annotated[int, typer.Option(help="Horizon T of the restricted model.")] = 4,
    max_rank: Annotated[int | None, typer.Option(help="Cap d on the basis size per cut (default: none).")] = None,
    tv_samples: Annotated[int, typer.Option(help="Samples for the TV estimate.")] = 300,
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    seed: Seed = 0,
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Query learner on a real LM restricted to a few tokens (experimental; TV by sampling)."""
    check_positive(horizon=horizon, max_rank=max_rank, tv_samples=tv_samples)
    if tokens is not None and any(t == "" for t in tokens):
        raise InvalidInputError("--token '' is empty; give single-token texts such as ' red'")
    if not prompt.strip():
        raise InvalidInputError("--prompt is empty; give the text that conditions every sequence")
    check_model_options(model, device, dtype, threads=threads)
    od, rec = open_out(out, "learn smollm2", dict(tokens=tokens, prompt=prompt, horizon=horizon, max_rank=max_rank,
                                                tv_samples=tv_samples, model=model, twin=twin, dtype=dtype,
                                                seed=seed, threads=threads))
    if rec is None:
        from logitrank.experiments.learning_smollm2 import real_model_demo
        lm = load_model(model, dtype=dtype, device=device, twin=twin)
        kw = {"token_texts": tuple(tokens)} if tokens else {}
        res = real_model_demo(lm, prompt_text=prompt, horizon=horizon, max_ranks=(max_rank,), tv_samples=tv_samples,
                              torch_threads=threads, seed=seed, **kw)
        rec = od.finish(res, tables={"runs.csv": (["max_rank", "queries", "samples", "tv", "tv_stderr"],
                                                  [[r["max_rank"], r["queries"], r["samples"], r["tv"],
                                                    r["tv_stderr"]] for r in res["runs"]])})
    res = rec["outputs"]
    for r in res["runs"]:
        typer.echo(f"max_rank {r['max_rank']}: {r['queries']} queries, {r['samples']} samples, ranks {r['ranks']}, "
                   f"TV {r['tv']:.3f} ± {r['tv_stderr']:.3f} (sampled); all prefixes: {res['all_prefixes']}")
