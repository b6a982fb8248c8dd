"""Weight spectra against Marchenko–Pastur: every matrix of SmolLM2 and MiniLM and of their twins.

Per matrix: MP fit (median-based σ), outliers beyond the Tracy–Widom margin on both sides of
the band, KS distance of the bulk, spacing ratio, WeightWatcher's power-law α; for one middle
block also the singular-vector statistics (largest entry, IPR, Porter–Thomas p-value) and the
MP density drawn over each histogram (computed here, so the figure module only reads).

References
----------
Staats, Thamm, Rosenow (2024), "Locating Information in LLMs via Random Matrix Theory",
Secs. 2–4, Table 3 and App. C–H (spectra, outliers, localisation of singular vectors).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from logitrank.experiments._base import Experiment, SavedResult
from logitrank.io import atomic_save_npz, atomic_write_json, read_json
from logitrank.real_models.adapter import HFCausalLM
from logitrank.real_models.runtime import torch_threads
from logitrank.real_models.weights import analyze_weight_matrices, write_details_csv
from logitrank.theory.rmt import MarchenkoPasturFit, marchenko_pastur_pdf

__all__ = ["WeightSpectraConfig", "WeightSpectraResult", "compute", "EXPERIMENT"]

LABELS = ("twin", "trained")


@dataclasses.dataclass(frozen=True)
class WeightSpectraConfig:
    """Models (embedded names or paths), twin seed, TW quantile, the block per model whose vectors are studied.

    ``threads``: torch CPU threads (``None``: torch's default); ``include_embeddings`` adds the
    embedding matrices to the analysed set (full profile).
    """

    models: tuple[str, ...] = ("smollm2", "minilm")
    vector_layers: tuple[int, ...] = (15, 3)
    twin_seed: int = 0
    tw_quantile: float = 0.99
    include_embeddings: bool = False
    seed: int = 0
    n_boot: int = 2000
    threads: int | None = None


PROFILES = {"quick": WeightSpectraConfig(), "full": WeightSpectraConfig(include_embeddings=True)}


@dataclasses.dataclass(frozen=True)
class WeightSpectraResult(SavedResult):
    """Per model and label (``"trained"``, ``"twin"``): the analysis rows and the saved arrays.

    ``rows[model][label]`` are the per-matrix records of
    :func:`~logitrank.real_models.weights.analyze_weight_matrices`; ``arrays`` holds
    ``"<model>|<label>|<matrix>|<kind>"`` with kind ``sv`` (every matrix) and ``mp_x``,
    ``mp_pdf``, ``max_entry``, ``ipr``, ``pt_pvalue`` (matrices of the vector block).
    """

    ARRAYS, RECORD = "spectra.npz", "spectra.json"

    models: tuple[str, ...]
    vector_layers: tuple[int, ...]
    tw_quantile: float
    rows: dict[str, dict[str, tuple[dict, ...]]]
    seconds: dict[str, dict[str, dict[str, float]]]
    threads: int
    arrays: dict[str, np.ndarray]
    intervals: dict[str, dict[str, list]]  # model → statistic → [estimate, low, high, n] (95%, see claim_intervals)

    def vector_layer(self, model: str) -> int:
        """The block whose singular vectors were analysed for ``model``."""
        return self.vector_layers[self.models.index(model)]

    def model_arrays(self, model: str) -> dict[str, np.ndarray]:
        """``{"<label>|<matrix>|<kind>": array}`` of one model."""
        return {k.split("|", 1)[1]: v for k, v in self.arrays.items() if k.split("|", 1)[0] == model}


def _analyse(lm: HFCausalLM, config: WeightSpectraConfig, layer: int, out: Path, name: str) -> tuple[dict, dict]:
    """Rows, timings and arrays of one model and its twin (also the details CSVs)."""
    summary, arrays = {}, {}
    for label, m in (("twin", lm.twin(config.twin_seed)), ("trained", lm)):
        mats = m.weight_matrices(include_embeddings=config.include_embeddings)
        res = analyze_weight_matrices(mats, mp_fit=MarchenkoPasturFit(tw_quantile=config.tw_quantile))
        write_details_csv(res, out / f"{name}-{label}-details.csv")
        summary[label] = {"rows": [dict(r) for r in res.rows],
                          "seconds": {"svd": res.svd_seconds, "diagnostics": res.diagnostics_seconds}}
        for wm in mats:
            arrays[f"{label}|{wm.name}|sv"] = res.singular_values[wm.name]
        vec_mats = [wm for wm in mats if wm.layer == layer]
        rows = {r["name"]: r for r in res.rows}
        for wm in vec_mats:
            r, sv = rows[wm.name], res.singular_values[wm.name]
            x = np.linspace(0, float(np.max(sv)) * 1.02, 600)
            arrays[f"{label}|{wm.name}|mp_x"] = x
            arrays[f"{label}|{wm.name}|mp_pdf"] = marchenko_pastur_pdf(x, (r["rows"], r["cols"]), r["sigma"])
        vres = analyze_weight_matrices(vec_mats, vectors=True, power_law=False)
        for wm in vec_mats:
            st = vres.vector_statistics[wm.name]
            arrays[f"{label}|{wm.name}|max_entry"] = st.max_entry
            arrays[f"{label}|{wm.name}|ipr"] = st.ipr
            arrays[f"{label}|{wm.name}|pt_pvalue"] = st.porter_thomas_pvalue
    return summary, arrays


def claim_intervals(rows: dict[str, tuple[dict, ...]], rng: np.random.Generator, n_boot: int) -> dict[str, list]:
    """95% percentile-bootstrap intervals (:func:`~logitrank.theory.intervals.bootstrap_mean`) of three claims' means.

    ``query_minus_attout``: per block, right outliers of Query minus those of Att-Out, resampled
    over blocks (paired: the two matrices of one block share its training signal).
    ``spacing_ratio_trained`` / ``spacing_ratio_twin``: the bulk spacing ratio resampled over
    matrices. ``frac_below_band_up`` / ``_down``: the fraction of singular values below the MP
    band of the trained rectangular MLP matrices, resampled over blocks. Each value is
    ``[estimate, low, high, n]``.
    """
    from logitrank.theory.intervals import bootstrap_mean

    def iv(values):
        values = np.asarray(values, dtype=np.float64)
        if values.size < 2:
            return [float(values.mean()) if values.size else float("nan"), float("nan"), float("nan"), int(values.size)]
        b = bootstrap_mean(values, rng, n_boot=n_boot)
        return [b.estimate, b.low, b.high, int(values.size)]

    tr = rows["trained"]
    by_layer: dict = {}
    for r in tr:
        if r["type"] in ("query", "attention_output"):
            by_layer.setdefault(r["layer"], {})[r["type"]] = r["n_above_band"]
    diffs = [d["query"] - d["attention_output"] for _, d in sorted(by_layer.items()) if len(d) == 2]
    return {"query_minus_attout": iv(diffs),
            "spacing_ratio_trained": iv([r["spacing_ratio"] for r in tr]),
            "spacing_ratio_twin": iv([r["spacing_ratio"] for r in rows["twin"]]),
            **{f"frac_below_band_{t}": iv([r["frac_below_band"] for r in tr if r["type"] == t])
               for t in ("up", "down") if any(r["type"] == t for r in tr)}}


def compute(config: WeightSpectraConfig, out_dir: Path, inputs=None) -> WeightSpectraResult:
    """Analyse each model and its random-init twin; one checkpoint per model in ``out_dir``."""
    out = Path(out_dir)
    rows, seconds, arrays = {}, {}, {}
    with torch_threads(config.threads):
        threads = torch.get_num_threads()
        for name, layer in zip(config.models, config.vector_layers, strict=True):
            if not (out / f"{name}.json").exists():        # checkpoint per model
                summary, arr = _analyse(HFCausalLM.load(name), config, layer, out, name)
                atomic_save_npz(out / f"{name}.npz", **arr)
                atomic_write_json(out / f"{name}.json", summary)
            summary = read_json(out / f"{name}.json")
            rows[name] = {label: tuple(summary[label]["rows"]) for label in LABELS}
            seconds[name] = {label: summary[label]["seconds"] for label in LABELS}
            with np.load(out / f"{name}.npz") as z:
                arrays.update({f"{name}|{k}": z[k] for k in z.files})
    rng = np.random.default_rng(config.seed)
    intervals = {name: claim_intervals(rows[name], rng, config.n_boot) for name in config.models}
    return WeightSpectraResult(models=config.models, vector_layers=config.vector_layers,
                               tw_quantile=config.tw_quantile, rows=rows, seconds=seconds, threads=threads,
                               arrays=arrays, intervals=intervals)


EXPERIMENT = Experiment(
    name="weights_spectra", lens="weights", order=500, version=3,
    title="Weight spectra vs Marchenko–Pastur (SmolLM2, MiniLM, random-init twins)",
    profiles=PROFILES, compute=compute, result_type=WeightSpectraResult, figure_module="weights_spectra")
