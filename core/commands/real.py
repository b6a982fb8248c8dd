"""``logitrank real …``: lens 1 (extended logit matrices, LINGEN) on a real causal LM.

Both commands take the shared options of :mod:`logitrank.commands._options`, validate every
input before the model loads, and with ``--out DIR`` write ``result.json``, CSV tables and a
PNG (:mod:`logitrank.commands._output`). ``real spectrum`` streams L(H, F) through
:class:`~logitrank.real_models.engine.LogitMatrixEngine` with checkpoints in ``DIR/ckpt`` (a
killed run resumes there); ``real lingen`` runs :func:`~logitrank.theory.lingen.lingen_evaluate`.

References
----------
Golowich, Liu, Shetty (2025), "Sequences of Logits Reveal the Low Rank Structure of Language
Models": §3.1 (L_{M,k}(H, F), power law), §5 (LINGEN).
"""

from __future__ import annotations

from typing import Annotated

import typer

from logitrank.commands._model import loaded_model, text_splits
from logitrank.commands._options import (
    Device,
    Dtype,
    Model,
    Nonsense,
    Offset,
    Out,
    Seed,
    Stride,
    Text,
    Threads,
    Twin,
    check_against_model,
    check_fit_range,
    check_loaded_model,
    check_logit_matrix_memory,
    check_model_options,
    check_positive,
    check_rule,
    check_windows,
)
from logitrank.commands._output import ChunkProgress, interruptible, progress_note, run_cached
from logitrank.errors import InvalidInputError

__all__ = ["app", "spectrum", "lingen"]

app = typer.Typer(help="Real LLMs: extended logit matrices, spectra and LINGEN (SmolLM2 by default).",
                  no_args_is_help=True, add_completion=False)

Rule = Annotated[str, typer.Option("--rule", help="Column rule: full | topk_average | topk_bare | random.")]
K = Annotated[int, typer.Option("--k", help="Columns per future (ignored by --rule full).")]


def _check_fit(lo: float, hi: float, *, histories: int, futures: int, k: int, rule: str) -> None:
    """L(H, F) has >= 3 singular values and the fit range lies inside them and keeps >= 3 (before loading).

    A range reaching past the spectrum is refused rather than clipped, and a matrix too small for
    any fit blames the sizes, not the range.
    """
    from logitrank.theory.spectrum import PowerLawFit
    check_fit_range(lo, hi)
    n = histories if rule == "full" else min(histories, futures * k)
    sizes = f"--histories {histories}" + ("" if rule == "full" else f", --futures {futures} x --k {k}")
    if n < 3:
        raise InvalidInputError(f"L(H, F) of {sizes} has {n} singular value(s); the power-law fit needs at least "
                                f"3: raise --histories" + ("" if rule == "full" or histories < 3 else
                                                          " or --futures/--k"))
    try:
        PowerLawFit(fit_range=_fit_range(lo, hi)).indices(n, strict=True)
    except InvalidInputError as exc:
        raise InvalidInputError(f"--fit-range {lo:g} {hi:g}: {exc} (L(H, F) of {sizes})") from None


def _fit_range(lo: float, hi: float):
    """Fractions stay floats, whole numbers above 1 become indices (PowerLawFit's convention)."""
    def conv(v):
        return int(v) if v > 1 and float(v).is_integer() else float(v)
    return conv(lo), conv(hi)


def _resume_note(ckpt, total: int) -> None:
    import numpy as np
    states = sorted(ckpt.glob("state-*.npz")) if ckpt is not None and ckpt.is_dir() else []
    if states:
        done = int(np.load(states[0])["chunks_done"])
        progress_note(f"resuming from chunk {done}/{total} in {ckpt}")


@app.command()
def spectrum(
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    seed: Seed = 0,
    text: Text = None,
    stride: Stride = None,
    offset: Offset = 0,
    nonsense: Annotated[bool, typer.Option("--nonsense", help="Token-shuffle the futures (F_nonsense, Fig. 1b).")]
    = False,
    histories: Annotated[int, typer.Option(help="|H|: number of histories.")] = 48,
    futures: Annotated[int, typer.Option(help="|F|: number of futures.")] = 32,
    history_length: Annotated[int, typer.Option(help="Tokens per history.")] = 20,
    future_length: Annotated[int, typer.Option(help="Tokens per future.")] = 4,
    k: K = 50,
    rule: Rule = "topk_average",
    fit_range: Annotated[tuple[float, float], typer.Option(
        "--fit-range", help="Power-law fit range LO HI: 1-based indices, or fractions of n in (0, 1].")]
    = (0.01, 0.5),
    future_chunk: Annotated[int | None, typer.Option(
        help="Futures per streaming chunk, one checkpoint and one progress step each (default: |F|/8, at most "
             "16).")] = None,
    save_matrix: Annotated[bool, typer.Option(help="Also write L(H, F) in chunks to DIR/ckpt/matrix.")] = False,
    threads: Threads = None,
    out: Out = None,
) -> None:
    """Singular values and power-law α of L_{M,k}(H, F) via the streaming engine (Golowich et al. §3.1)."""
    check_rule(rule)
    check_positive(histories=histories, futures=futures, history_length=history_length,
                   future_length=future_length, k=k, future_chunk=future_chunk)
    if future_chunk is None:        # about 8 chunks, so the bar moves and a kill loses little
        future_chunk = min(16, max(1, -(-futures // 8)))
    _check_fit(*fit_range, histories=histories, futures=futures, k=k, rule=rule)
    if save_matrix and out is None:
        raise InvalidInputError("--save-matrix needs --out DIR to write the chunks into")
    check_model_options(model, device, dtype, threads=threads, text=text)
    check_windows(text, {"histories": (histories, history_length), "futures": (futures, future_length)},
                  stride=stride, offset=offset)
    cfg = check_against_model(model, tokens_per_query={"--history-length": history_length,
                                                       "--future-length": future_length}, k=k, rule=rule)
    need = check_logit_matrix_memory(cfg, histories=histories, history_length=history_length,
                                     columns=futures * k, dtype=dtype, device=device, gram=True)
    inputs = dict(model=model, twin=twin, dtype=dtype, seed=seed, text=text, stride=stride, offset=offset,
                  nonsense=nonsense, histories=histories, futures=futures, history_length=history_length,
                  future_length=future_length, k=k, rule=rule, fit_range=list(fit_range),
                  future_chunk=future_chunk, save_matrix=save_matrix, threads=threads)
    def compute(od):
        import numpy as np

        from logitrank.real_models.distributed import spectrum_outputs
        from logitrank.real_models.engine import LogitMatrixEngine
        if need >= 2**30:
            progress_note(f"L(H, F) of {histories} histories: about {need / 2**30:.1f} GiB (Gram"
                          f"{' and KV cache' if cfg is not None else ''})")
        with loaded_model(model, dtype=dtype, device=device, twin=twin, threads=threads) as (lm, used):
            check_loaded_model(lm, model, tokens_per_query={"--history-length": history_length,
                                                            "--future-length": future_length}, k=k, rule=rule)
            seqs, sources = text_splits(lm, text, {"histories": (histories, history_length),
                                                   "futures": (futures, future_length)},
                                        seed=seed, stride=stride, offset=offset,
                                        shuffled=("futures",) if nonsense else ())
            eng = LogitMatrixEngine(lm, future_chunk=future_chunk)
            prog = ChunkProgress(-(-futures // future_chunk), od.ckpt)
            _resume_note(od.ckpt, prog.total)
            with interruptible(prog):
                g = eng.gram(seqs["histories"], seqs["futures"], rule=rule, k=k, rng=np.random.default_rng(seed),
                             run_dir=od.ckpt, save_matrix=save_matrix, on_chunk=prog)
        outputs = {**spectrum_outputs(g, _fit_range(*fit_range)), "device": str(lm.device),
                   "head_mode": eng.head_mode, "threads_used": used, "text_sources": sources}
        s = np.asarray(outputs["singular_values"])

        def draw(fig):
            ax = fig.add_subplot()
            i = np.arange(1, len(s) + 1)
            ax.loglog(i, s, ".", label="singular values")
            lo, hi = outputs["fit_range"]
            ax.loglog(i[lo - 1:hi], np.exp(outputs["log_scale"]) * i[lo - 1:hi] ** -outputs["alpha"], "-",
                      label=f"power law α = {outputs['alpha']:.3f}")
            ax.set_xlabel("index i")
            ax.set_ylabel("σ_i")
            ax.set_title(f"L(H,F) of {model}{' (twin)' if twin is not None else ''}: {g.n_histories} × "
                         f"{g.n_futures}·{g.k} ({rule})", fontsize=9)
            ax.legend()

        return outputs, dict(tables={"singular_values.csv": (["index", "singular_value"],
                                                             [[j + 1, v] for j, v in enumerate(s)])},
                             figure=draw, figure_name="spectrum.png")

    run_cached(out, "real spectrum", inputs, compute, _report_spectrum)


def _report_spectrum(o: dict) -> None:
    typer.echo(f"L(H,F): {o['n_histories']} x {o['n_futures']}*{o['k']} ({o['rule']}); {o['tokens']} tokens in "
               f"{o['seconds']:.1f} s on {o['device']} (head: {o['head_mode']}, {o['threads_used']} threads)")
    typer.echo(f"power-law alpha = {o['alpha']:.4f} +- {o['alpha_err']:.4f} (fit range {tuple(o['fit_range'])})")
    typer.echo("top singular values: " + " ".join(f"{v:.4g}" for v in o["singular_values"][:10]))


@app.command()
def lingen(
    model: Model = "smollm2",
    twin: Twin = None,
    device: Device = None,
    dtype: Dtype = "float32",
    seed: Seed = 0,
    text: Text = None,
    stride: Stride = None,
    offset: Offset = 0,
    nonsense: Nonsense = False,
    target: Annotated[str | None, typer.Option(help="Target prompt text (default: a held-out window of --text, "
                                                    "or a model sample).")] = None,
    histories: Annotated[int, typer.Option(help="|H|: number of histories.")] = 24,
    futures: Annotated[int, typer.Option(help="|F|: number of futures.")] = 12,
    history_length: Annotated[int, typer.Option(help="Tokens per history (and per default target).")] = 12,
    future_length: Annotated[int, typer.Option(help="Tokens per future.")] = 4,
    steps: Annotated[int, typer.Option(help="Generated tokens.")] = 15,
    samples: Annotated[int, typer.Option(help="Generations per method.")] = 2,
    k: K = 50,
    rule: Rule = "topk_average",
    threads: Threads = None,
    out: Out = None,
) -> None:
    """LINGEN for one target: KL per step vs the next-token-only and last-5 baselines (Golowich et al. §5)."""
    check_rule(rule)
    check_positive(histories=histories, futures=futures, history_length=history_length,
                   future_length=future_length, steps=steps, samples=samples, k=k)
    if target is not None and not target.strip():
        raise InvalidInputError("--target is empty; give a prompt text, or leave --target out to take one "
                                "from --text (or a model sample)")
    check_model_options(model, device, dtype, threads=threads, text=text)
    request = {"histories": (histories, history_length), "futures": (futures, future_length)}
    if target is None:
        request["targets"] = (1, history_length)
    check_windows(text, request, stride=stride, offset=offset)
    # A generated token extends every history (and the target) before each future is appended.
    cfg = check_against_model(model, tokens_per_query={"--history-length": history_length, "--steps": steps,
                                                       "--future-length": future_length}, k=k, rule=rule)
    check_logit_matrix_memory(cfg, histories=histories, history_length=history_length + steps,
                              columns=(futures + 1) * k, dtype=dtype, device=device, gram=False)
    inputs = dict(model=model, twin=twin, dtype=dtype, seed=seed, text=text, stride=stride, offset=offset,
                  nonsense=nonsense, target=target, histories=histories, futures=futures,
                  history_length=history_length, future_length=future_length, steps=steps, samples=samples,
                  k=k, rule=rule, threads=threads)
    def compute(od):
        import numpy as np

        from logitrank.progress import progress
        from logitrank.real_models.engine import LogitMatrixEngine
        from logitrank.theory.lingen import lingen_evaluate
        with loaded_model(model, dtype=dtype, device=device, twin=twin, threads=threads) as (lm, used):
            check_loaded_model(lm, model, tokens_per_query={"--history-length": history_length, "--steps": steps,
                                                            "--future-length": future_length}, k=k, rule=rule)
            seqs, sources = text_splits(lm, text, request, seed=seed, stride=stride, offset=offset,
                                        shuffled=("histories", "futures") if nonsense else ())
            tgt = lm.encode(target) if target is not None else seqs["targets"][0]
            if len(tgt) == 0:
                raise InvalidInputError(f"--target {target!r} has no tokens; give a longer prompt")
            eng = LogitMatrixEngine(lm)

            def matrix_fn(model_, H, F, **kw):
                return eng.matrix(H, F, **kw)

            progress_note(f"LINGEN: fit on {histories} x {futures} futures, then {samples} x {steps} generated "
                          f"tokens per method …")
            with progress(total=None, desc="LINGEN generation", unit="step", leave=False) as bar:
                def on_step(done, total):
                    bar.total = total
                    bar.update(done - bar.n)
                ev = lingen_evaluate(lm, tgt, seqs["histories"], seqs["futures"], n_steps=steps, n_samples=samples,
                                     rng=np.random.default_rng(seed), rule=rule, k=k, matrix_fn=matrix_fn,
                                     on_step=on_step)
        decode = lm.decode if lm.tokenizer is not None else (lambda t: " ".join(map(str, t)))
        outputs = {"target_tokens": [int(t) for t in tgt], "target_text": decode(tgt),
                   "total_kl": {m: float(v) for m, v in ev.total_kl.items()},
                   "per_step_kl": {m: np.asarray(v, float).tolist() for m, v in ev.per_step_kl.items()},
                   "first_generation": {m: decode(ev.samples[m][0]) for m in ev.samples},
                   "threads_used": used, "device": str(lm.device), "text_sources": sources}
        methods = list(outputs["per_step_kl"])

        def draw(fig):
            ax = fig.add_subplot()
            for m in methods:
                ax.plot(np.arange(1, steps + 1), outputs["per_step_kl"][m], marker=".", label=m)
            ax.set_yscale("log")
            ax.set_xlabel("generation step")
            ax.set_ylabel("KL(P_true ‖ P_method)")
            ax.set_title(f"LINGEN on {model}", fontsize=9)
            ax.legend()

        rows = [[t + 1, *[outputs["per_step_kl"][m][t] for m in methods]] for t in range(steps)]
        return outputs, dict(tables={"per_step_kl.csv": (["step", *methods], rows)}, figure=draw,
                             figure_name="lingen.png")

    run_cached(out, "real lingen", inputs, compute, _report_lingen)


def _report_lingen(o: dict) -> None:
    typer.echo(f"target: {o['target_text']!r}")
    for m, tot in o["total_kl"].items():
        typer.echo(f"{m:16s} total KL over {len(o['per_step_kl'][m])} steps: {tot:.3f}   first generation: "
                   f"{o['first_generation'][m]!r}")
