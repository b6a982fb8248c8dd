"""``logitrank real …``: lens-1 experiments on a real causal LM from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

# Heavy imports (torch, transformers, the engine) stay inside the commands: core/cli.py
# attaches this app at start-up, and `logitrank --help` should not pay for torch.
real_app = typer.Typer(help="Real LLMs: extended logit matrices, spectra and LINGEN (SmolLM2 by default).",
                       no_args_is_help=True)


def _sequences(lm, n, length, seed, text_file, nonsense_seed):
    from logitrank.real_models import text_sources as ts
    if text_file is not None:
        seqs = ts.text_file_windows(lm, text_file, length, max_items=n)
    else:
        seqs = ts.model_samples(lm, n, length, seed)
    return ts.token_shuffled(seqs, nonsense_seed) if nonsense_seed is not None else seqs


@real_app.command()
def spectrum(
    model: str = typer.Option("smollm2", help="'smollm2', a .gguf file, a model directory or a hub id (local cache)."),
    random_init: Optional[int] = typer.Option(None, "--random-init", help="Use the random-init twin with this seed."),
    histories: int = typer.Option(48, help="|H|."),
    futures: int = typer.Option(32, help="|F|."),
    history_length: int = typer.Option(20, help="Tokens per history."),
    future_length: int = typer.Option(4, help="Tokens per future."),
    k: int = typer.Option(50, help="Columns per future."),
    rule: str = typer.Option("topk_average", help="full | topk_average | topk_bare | random."),
    text_file: Optional[Path] = typer.Option(None, help="Take histories/futures as token windows of this file "
                                                          "(default: samples of the model)."),
    nonsense_futures: bool = typer.Option(False, help="Token-shuffle the futures."),
    seed: int = typer.Option(0, help="Seed for samples, shuffles and the random rule."),
    run_dir: Optional[Path] = typer.Option(None, help="Checkpoint directory (a killed run resumes here)."),
    save_matrix: bool = typer.Option(False, help="Also write L(H, F) in chunks to RUN_DIR/matrix."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when available)."),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16."),
    future_chunk: int = typer.Option(16, help="Futures per streaming chunk."),
) -> None:
    """Singular values and power-law α of L_{M,k}(H, F) via the fast engine (streaming Gram)."""
    import numpy as np

    from logitrank.io import atomic_write_json
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import LogitMatrixEngine
    from logitrank.theory.spectrum import PowerLawFit
    lm = HFCausalLM.load(model, dtype=dtype, device=device)
    H = _sequences(lm, histories, history_length, seed, text_file, None)
    F = _sequences(lm, futures, future_length, seed + 1, text_file, seed + 2 if nonsense_futures else None)
    if random_init is not None:
        lm = lm.twin(random_init)
    eng = LogitMatrixEngine(lm, future_chunk=future_chunk)
    g = eng.gram(H, F, rule=rule, k=k, rng=np.random.default_rng(seed), run_dir=run_dir, save_matrix=save_matrix)
    s = g.singular_values()
    fit = PowerLawFit().fit(s)
    typer.echo(f"L(H,F): {len(H)} x {len(F)}*{g.k} ({rule}); {g.tokens} tokens in {g.seconds:.1f} s "
               f"on {lm.device} (head: {eng.head_mode})")
    typer.echo(f"power-law alpha = {fit.alpha_:.4f} +- {fit.alpha_err_:.4f} (fit range {fit.fit_range_})")
    typer.echo("top singular values: " + " ".join(f"{v:.4g}" for v in s[:10]))
    if run_dir is not None:
        atomic_write_json(Path(run_dir) / "result.json", {"alpha": fit.alpha_, "alpha_err": fit.alpha_err_,
                                                         "singular_values": s.tolist(), "seconds": g.seconds})


@real_app.command()
def lingen(
    target: Optional[str] = typer.Option(None, help="Target prompt text (default: a model sample)."),
    model: str = typer.Option("smollm2", help="Model (as for `spectrum`)."),
    histories: int = typer.Option(24, help="|H|."),
    futures: int = typer.Option(12, help="|F|."),
    history_length: int = typer.Option(12, help="Tokens per history."),
    future_length: int = typer.Option(4, help="Tokens per future."),
    nonsense: bool = typer.Option(False, help="Token-shuffled histories and futures (the paper's Option 2)."),
    steps: int = typer.Option(15, help="Generated tokens."),
    samples: int = typer.Option(2, help="Generations per method."),
    k: int = typer.Option(50, help="Columns per future."),
    seed: int = typer.Option(0, help="Seed."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
) -> None:
    """LINGEN for one target: total KL over the steps vs the next-token-only and last-5 baselines."""
    import numpy as np

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import engine_logit_matrix
    from logitrank.theory.lingen import lingen_evaluate
    lm = HFCausalLM.load(model, device=device)
    H = _sequences(lm, histories, history_length, seed, None, seed + 5 if nonsense else None)
    F = _sequences(lm, futures, future_length, seed + 1, None, seed + 6 if nonsense else None)
    tgt = lm.encode(target) if target else _sequences(lm, 1, history_length, seed + 2, None, None)[0]
    ev = lingen_evaluate(lm, tgt, H, F, n_steps=steps, n_samples=samples, rng=np.random.default_rng(seed),
                         rule="topk_average", k=k, matrix_fn=engine_logit_matrix)
    typer.echo(f"target: {lm.decode(tgt)!r}")
    for m, tot in ev.total_kl.items():
        typer.echo(f"{m:16s} total KL over {steps} steps: {tot:.3f}   first generation: "
                   f"{lm.decode(ev.samples[m][0])!r}")
