"""``logitrank weights …``: RMT diagnostics of a model's weight matrices from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

# The commands import torch/transformers (through the model object) inside their bodies:
# core/cli.py attaches this app at start-up, and `logitrank --help` should not pay for torch.

app = typer.Typer(help="Weights lens: weight matrices vs random-matrix theory (Staats, Thamm & Rosenow 2024).",
                  no_args_is_help=True, add_completion=False)


@app.command()
def analyze(
    model: str = typer.Argument("smollm2", help="'smollm2', 'minilm', a .gguf file, a local directory or a hub id."),
    twin: bool = typer.Option(False, "--twin", help="Analyse the random-init twin (same config, seeded) instead."),
    seed: int = typer.Option(0, help="Seed of the random-init twin."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the per-matrix table to this CSV file."),
    vectors: bool = typer.Option(False, "--vectors", help="Also singular-vector statistics (Porter–Thomas, IPR)."),
    include_embeddings: bool = typer.Option(False, "--include-embeddings", help="Also embeddings / LM head."),
    device: Optional[str] = typer.Option(None, help="Torch device for the SVDs (default: cuda if available)."),
) -> None:
    """Per-type summary of MP consistency, outliers below|above the band, KS, spacing ratio and alpha."""
    import numpy as np

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.weights import analyze_model_weights, write_details_csv
    lm = HFCausalLM.load(model, twin_seed=seed if twin else None)
    res = analyze_model_weights(lm, include_embeddings=include_embeddings, vectors=vectors, device=device)
    typer.echo(f"{len(res.rows)} matrices; decomposition {res.svd_seconds:.1f} s on {res.device}, "
               f"diagnostics {res.diagnostics_seconds:.1f} s")
    typer.echo(f"{'type':18s} {'n':>4s} {'MP-consistent':>13s} {'below|above':>12s} {'KS':>6s} {'<r>':>6s} {'alpha':>6s}")
    for t, rows in res.by_type().items():
        cons = np.mean([r["consistent_mp"] for r in rows])
        ba = f"{np.mean([r['n_below'] for r in rows]):.1f}|{np.mean([r['n_above'] for r in rows]):.1f}"
        typer.echo(f"{t:18s} {len(rows):4d} {cons:13.0%} {ba:>12s} {np.mean([r['ks_distance'] for r in rows]):6.3f} "
                   f"{np.mean([r['spacing_ratio'] for r in rows]):6.3f} "
                   f"{np.nanmedian([r.get('alpha', np.nan) for r in rows]):6.2f}")
    if csv:
        typer.echo(f"wrote {write_details_csv(res, csv)}")


@app.command()
def removal(
    model: str = typer.Argument("smollm2", help="A causal LM: 'smollm2', a .gguf file, a directory or a hub id."),
    types: Optional[list[str]] = typer.Option(None, "--type", help="Matrix type (repeatable); default all."),
    sequences: int = typer.Option(4, help="Number of held-out model-sampled sequences."),
    length: int = typer.Option(64, help="Tokens per sequence."),
    seed: int = typer.Option(2, help="Sampling seed of the held-out text."),
) -> None:
    """ΔPerplexity when one decile of singular values of one matrix type is zeroed in all blocks."""
    import torch

    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.removal import decile_removal
    lm = HFCausalLM.load(model)
    toks = torch.from_numpy(lm.sample_tokens(sequences, length, seed, method="generate"))
    res = decile_removal(lm, lm.weight_matrices(), toks, types=types)
    typer.echo(f"base perplexity {res.base_perplexity:.3f} on {res.n_tokens} tokens; ΔPPL by decile (D1 = smallest):")
    for t, row in zip(res.types, res.delta_perplexity):
        typer.echo(f"{t:18s} " + " ".join(f"{v:9.3g}" for v in row))
