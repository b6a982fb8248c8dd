"""Benchmark: generation of the query learner's model — every program through CVXPY vs the
certified least-squares shortcut (exact oracle). Both run side by side in one process.

The workload is the exact TV of a learned random ISAN: enumerating Σ^T solves one
program per prefix. Prints both times, the ratio, and the largest difference between the
two probability tables (must be at solver tolerance).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from logitrank.sim.ensembles import random_isan
from logitrank.theory.enumeration import enumerate_distribution
from logitrank.theory.oracles import LogitQueryOracle, SampleOracle
from logitrank.theory.query_learner import QueryLearner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=3)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--dim", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import sys
    from pathlib import Path

    import torch
    sys.path.insert(0, str(Path(__file__).parent))
    from _hardware import machine_header
    for line in machine_header(torch.get_num_threads()).splitlines():
        print(f"# {line}")
    print("# not GEMM-bound: the work is many tiny LPs / least-squares solves (d x d, Python and solver "
          "overhead per program), so no FLOP rate or % of the GEMM peak above is stated")
    M = random_isan(a.vocab, a.horizon, a.dim, np.random.default_rng(a.seed))
    learner = QueryLearner().fit(LogitQueryOracle(M), SampleOracle(M, np.random.default_rng(a.seed + 1)))
    times, tables = {}, {}
    for name, fast in (("baseline: CVXPY LP for every prefix", False), ("ours: certified lstsq shortcut", True)):
        model = learner.model_
        model.__init__(model.vocab_size, model.horizon, model.futures, model.ext_futures,
                       model.basis_histories, model.basis_rows, model.coef_bound)   # fresh memo
        model.use_fast_path = fast
        t0 = time.perf_counter()
        _, p = enumerate_distribution(model)
        times[name] = time.perf_counter() - t0
        tables[name] = p
        print(f"{name:40s} {times[name]:8.3f} s  ({model.n_programs} programs, {model.n_lp_solves} LP solves)")
    base, ours = times.values()
    diff = np.abs(np.subtract(*tables.values())).max()
    print(f"speed-up {base / ours:.1f}x; max |Δ probability| = {diff:.2e}; "
          f"|Σ|={a.vocab}, T={a.horizon}, d={a.dim}, {a.vocab ** a.horizon} sequences")


if __name__ == "__main__":
    main()
