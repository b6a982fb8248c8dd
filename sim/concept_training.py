"""Training the latent-concept model (Jiang et al. 2024, Sec. 5.1) and the gradient-descent theorem checks.

Embedding f (one row per context, 3^m rows) and unembedding g (one row per token, 2^m
rows) are lookup tables trained by softmax cross-entropy, with SGD (paper: lr 0.1, batch
100) or Adam (paper: lr 1e-3), d = m. Several seeds are trained *at once*: the tables
of S runs are stacked into one ``(S, rows, dim)`` tensor and the loss is the sum of the
runs' losses. SGD and Adam act elementwise, so this is exactly S independent runs (each
with its own random DAG and its own samples), only with S times fewer Python steps.

Also here, in closed form with NumPy, the simplified gradient-descent problems of the
paper's alignment theorems: Thm 12 (L = exp(−uᵀv)) and Thm 14 / Thm 5 (L = Σ_k
exp(−⟨u1, v_k⟩) + exp(⟨u2, v_k⟩) from the mutually orthogonal, equal-norm start), and
Thm 4 (g trained by GD with f fixed on the two contexts that fix concept i alone).

References
----------
Jiang et al. 2024, arXiv:2403.03867 — Sec. 5.1 and Tables 1–2 (simulation), Thm 4,
Thm 5 / Thm 14, Thm 12 (App. C).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.theory.concepts import (
    UNKNOWN,
    LatentConceptModel,
    SteeringCosines,
    all_contexts,
    steering_cosines,
    unembedding_steering_vectors,
)

__all__ = [
    "PAPER_TABLE1_SGD",
    "PAPER_TABLE2_ADAM",
    "ConceptTrainingResult",
    "train_concept_models",
    "AlignmentTrajectory",
    "gd_exponential_alignment",
    "gd_joint_alignment",
    "gd_fixed_embedding_alignment",
]

from logitrank.sim.paper_numbers import PAPER_TABLE1_SGD, PAPER_TABLE2_ADAM  # noqa: E402  (re-exported)

_DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "gd": 1.0}


@dataclasses.dataclass(frozen=True)
class ConceptTrainingResult:
    """Trained tables of S runs and their metrics.

    ``embeddings``: ``(S, 3^m, dim)``; ``unembeddings``: ``(S, 2^m, dim)``;
    ``cosines``: one :class:`SteeringCosines` per run; ``loss_history``: ``(n_logged, S)``
    mean cross-entropy per logged step (``logged_steps``); ``models``: each run's
    latent-concept model; ``config``: the settings that produced it.
    """

    embeddings: np.ndarray
    unembeddings: np.ndarray
    cosines: tuple
    loss_history: np.ndarray
    logged_steps: np.ndarray
    models: tuple
    config: dict

    def metric(self, name: str) -> np.ndarray:
        """Per-run mean over concepts of ``unembedding``/``embedding``/``mixed``/``across_abs``, ``(S,)``."""
        return np.array([c.means()[name] for c in self.cosines])

    def summary(self) -> dict:
        """Mean, standard deviation, standard error, min and max over runs of each metric."""
        out = {}
        for name in ("unembedding", "embedding", "mixed", "across_abs"):
            v = self.metric(name)
            out[name] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                         "sem": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0,
                         "min": float(v.min()), "max": float(v.max())}
        return out


def train_concept_models(m: int, *, seeds, optimizer: str = "sgd", lr: float | None = None,
                         n_steps: int = 20000, batch_size: int = 100, dim: int | None = None,
                         keep_prob: float = 0.5, edge_prob: float = 0.5, init_std: float = 1.0,
                         log_every: int = 500, models=None) -> ConceptTrainingResult:
    """Train embedding/unembedding tables of the latent-concept model for several seeds at once.

    Parameters
    ----------
    m : number of binary concepts (vocabulary 2^m, contexts 3^m).
    seeds : one integer per run; run s draws its random DAG (unless ``models`` is given)
        and its initialisation from ``seed``; batches come from one torch generator
        seeded by the seeds.
    optimizer : ``"sgd"`` (minibatches of ``batch_size`` (context, token) pairs drawn
        fresh each step from the data distribution: c ~ p, i.i.d. masks), ``"adam"``
        (same batches, Adam), or ``"gd"`` (full-batch gradient descent on the exact
        population cross-entropy, Σ_d P(d) Σ_c p(c|d) (−ln p̂(c|d)), i.e. the small-step
        limit that the paper's stochastic-approximation argument appeals to).
    lr : learning rate; defaults: SGD 0.1 and Adam 1e-3 (the paper's), GD 1.0.
    n_steps, batch_size : optimiser steps and batch size (paper: batch 100; its data-set
        size and step count are not stated).
    dim : representation dimension (paper default d = m).
    keep_prob : probability that a concept is kept in the context (i.i.d. mask; ours).
    edge_prob : edge probability of the random DAGs (0 = independent concepts).
    init_std : standard deviation of the Gaussian initialisation (torch's nn.Embedding
        default, 1.0; the paper does not say).
    models : optional list of :class:`LatentConceptModel`, one per seed.

    Notes
    -----
    Gradients are written out by hand (softmax cross-entropy: ∂/∂logits = p̂ − onehot),
    which is several times faster than autograd for these tiny tables; a test checks
    them against torch autograd.

    Returns
    -------
    ConceptTrainingResult
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InvalidInputError("need at least one seed")
    # These tensors are tiny: one thread avoids thread start-up cost on every op (5x faster
    # on a loaded 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(m, seeds, optimizer, lr, n_steps, batch_size, dim, keep_prob, edge_prob,
                      init_std, log_every, models)
    finally:
        torch.set_num_threads(threads)


def _train(m, seeds, optimizer, lr, n_steps, batch_size, dim, keep_prob, edge_prob, init_std, log_every, models):
    if optimizer not in _DEFAULT_LR:
        raise InvalidInputError(f"optimizer must be one of {sorted(_DEFAULT_LR)}, got {optimizer!r}")
    if n_steps < 1 or batch_size < 1 or log_every < 1:
        raise InvalidInputError("n_steps, batch_size and log_every must be positive")
    lr = _DEFAULT_LR[optimizer] if lr is None else float(lr)
    dim = m if dim is None else int(dim)
    S = len(seeds)
    rngs = [np.random.default_rng(s) for s in seeds]
    if models is None:
        models = [LatentConceptModel.random(m, r, edge_prob=edge_prob) for r in rngs]
    elif len(models) != S or any(mod.n_concepts != m for mod in models):
        raise InvalidInputError(f"need one model with m = {m} concepts per seed ({S})")
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence(seeds).generate_state(1)[0]))
    dt = torch.float64 if optimizer == "gd" else torch.float32
    F = torch.tensor(np.stack([r.standard_normal((3 ** m, dim)) * init_std for r in rngs]), dtype=dt)
    G = torch.tensor(np.stack([r.standard_normal((2 ** m, dim)) * init_std for r in rngs]), dtype=dt)
    V, C = 2 ** m, 3 ** m
    joint = torch.tensor(np.stack([mod.joint() for mod in models]), dtype=torch.float64)
    pow3 = 3 ** torch.arange(m)
    bits = torch.arange(m)
    if optimizer == "gd":
        P = torch.tensor(np.stack([mod.conditional_table() for mod in models]), dtype=dt)
        Wd = torch.tensor(np.stack([mod.context_weights(keep_prob) for mod in models]), dtype=dt)[..., None]
        logP = torch.log(P.clamp_min(1e-300))
        ent = (Wd * P * logP).sum((1, 2))
    else:
        run_off = (torch.arange(S) * C)[:, None]
        tok_off = (torch.arange(S) * V)[:, None]
        if optimizer == "adam":
            b1, b2, eps = 0.9, 0.999, 1e-8
            mF, vF, mG, vG = (torch.zeros_like(F), torch.zeros_like(F), torch.zeros_like(G), torch.zeros_like(G))
    losses, logged = [], []
    running = torch.zeros(S, dtype=torch.float64)
    count = 0
    for step in range(1, n_steps + 1):
        if optimizer == "gd":
            logits = torch.bmm(F, G.transpose(1, 2))
            logQ = torch.log_softmax(logits, -1)
            R = Wd * (logQ.exp() - P)                                   # dL/dlogits
            gF, gG = torch.bmm(R, G), torch.bmm(R.transpose(1, 2), F)
            loss = -(Wd * P * logQ).sum((1, 2))
        else:
            tok = torch.multinomial(joint, batch_size, replacement=True, generator=gen)  # (S, B)
            vec = (tok[..., None] >> bits) & 1
            keep = torch.rand(S, batch_size, m, generator=gen) < keep_prob
            ctx = (torch.where(keep, vec + 1, 0) * pow3).sum(-1)                   # (S, B)
            f = F.reshape(S * C, dim)[(ctx + run_off).reshape(-1)].reshape(S, batch_size, dim)
            logits = torch.bmm(f, G.transpose(1, 2))                                 # (S, B, V)
            logQ = torch.log_softmax(logits, -1)
            loss = -logQ.gather(2, tok[..., None]).squeeze(2).mean(1)
            R = logQ.exp()
            R.scatter_add_(2, tok[..., None], -torch.ones(S, batch_size, 1, dtype=dt))
            R /= batch_size
            gf = torch.bmm(R, G)                                                     # (S, B, dim)
            gF = torch.zeros(S * C, dim, dtype=dt).index_add_(0, (ctx + run_off).reshape(-1),
                                                              gf.reshape(-1, dim)).reshape(S, C, dim)
            gG = torch.bmm(R.transpose(1, 2), f)
        if optimizer == "adam":
            mF.mul_(b1).add_(gF, alpha=1 - b1)
            vF.mul_(b2).addcmul_(gF, gF, value=1 - b2)
            mG.mul_(b1).add_(gG, alpha=1 - b1)
            vG.mul_(b2).addcmul_(gG, gG, value=1 - b2)
            c1, c2 = 1 - b1 ** step, 1 - b2 ** step
            F -= lr * (mF / c1) / ((vF / c2).sqrt() + eps)
            G -= lr * (mG / c1) / ((vG / c2).sqrt() + eps)
        else:
            F -= lr * gF
            G -= lr * gG
        running += loss.double()
        count += 1
        if step % log_every == 0 or step == n_steps:
            losses.append((running / count).numpy().copy())
            logged.append(step)
            running.zero_()
            count = 0
    Fn = F.double().numpy()
    Gn = G.double().numpy()
    cos = tuple(steering_cosines(Fn[s], Gn[s]) for s in range(S))
    cfg = {"m": m, "seeds": seeds, "optimizer": optimizer, "lr": lr, "n_steps": n_steps,
           "batch_size": batch_size, "dim": dim, "keep_prob": keep_prob,
           "edge_prob": edge_prob, "init_std": init_std}
    return ConceptTrainingResult(embeddings=Fn, unembeddings=Gn, cosines=cos,
                                 loss_history=np.array(losses), logged_steps=np.array(logged),
                                 models=tuple(models), config=cfg)


def exact_expected_loss(F, G, model: LatentConceptModel, keep_prob: float = 0.5) -> float:
    """Population cross-entropy E_d E_{c~p(·|d)} [−ln p̂(c | d)] of tables (F, G) (the training target)."""
    logits = np.asarray(F) @ np.asarray(G).T
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    P = model.conditional_table()
    w = model.context_weights(keep_prob)
    return float(-(w[:, None] * P * logp).sum())


@dataclasses.dataclass(frozen=True)
class AlignmentTrajectory:
    """Cosines along a gradient-descent run (Jiang et al. App. C).

    ``steps``: logged step numbers; ``loss``; ``cos_within``: min over pairs of
    cos(v_i, v_j) (or NaN when there is one v); ``cos_embedding``: min over k of
    cos(u1 − u2, v_k) (Thm 14) or cos(u, v) (Thm 12).
    """

    steps: np.ndarray
    loss: np.ndarray
    cos_within: np.ndarray
    cos_embedding: np.ndarray


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def gd_exponential_alignment(u0, v0, *, lr: float | None = None, n_steps: int = 10000,
                             log_every: int = 100) -> AlignmentTrajectory:
    """GD on L(u, v) = exp(−uᵀv) (Jiang et al. Thm 12): cos(u_t, v_t) rises monotonically to 1.

    Step size defaults to 0.5 / L(u0, v0) (the theorem needs η < 1/L(u0, v0)).
    """
    u, v = np.array(u0, float), np.array(v0, float)
    if u.shape != v.shape or u.ndim != 1:
        raise InvalidInputError("u0 and v0 must be vectors of one length")
    if np.isclose(_cos(u, v), -1.0):
        raise InvalidInputError("Thm 12 needs u0 != -a v0 for a > 0 (antiparallel start)")
    lr = 0.5 / np.exp(-u @ v) if lr is None else lr
    steps, loss, cw, ce = [], [], [], []
    for t in range(n_steps + 1):
        L = np.exp(-u @ v)
        if t % log_every == 0 or t == n_steps:
            steps.append(t), loss.append(L), cw.append(np.nan), ce.append(_cos(u, v))
        u, v = u + lr * L * v, v + lr * L * u
    return AlignmentTrajectory(np.array(steps), np.array(loss), np.array(cw), np.array(ce))


def gd_joint_alignment(n_vectors: int, dim: int, *, norm_u: float = 1.0, norm_v: float = 1.0,
                       lr: float = 0.1, n_steps: int = 20000, log_every: int = 200,
                       rng: np.random.Generator | None = None,
                       orthogonal_init: bool = True) -> AlignmentTrajectory:
    """GD on Σ_k exp(−⟨u1, v_k⟩) + exp(⟨u2, v_k⟩) from Thm 14's start (Jiang et al. Thm 5 / 14).

    u1, u2 play f(d^⋄_(i→1)), f(d^⋄_(i→0)) and v_k the unembedding steering vectors
    Δ_{c,i}. With ``orthogonal_init`` all K + 2 vectors start mutually orthogonal (needs
    dim ≥ K + 2) with ‖u‖ = ``norm_u``, ‖v_k‖ = ``norm_v``; otherwise they are Gaussian
    with those expected norms (Remark 6). Theorem: cos(v_i, v_j) → 1 and
    cos(u1 − u2, v_k) → 1.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    K = int(n_vectors)
    if K < 1:
        raise InvalidInputError("need at least one vector v")
    if orthogonal_init:
        if dim < K + 2:
            raise InvalidInputError(f"orthogonal start needs dim >= K + 2 = {K + 2}, got {dim}")
        Q, _ = np.linalg.qr(rng.standard_normal((dim, K + 2)))
        B = Q.T
    else:
        B = rng.standard_normal((K + 2, dim)) / np.sqrt(dim)
    u1, u2, V = B[0] * norm_u, B[1] * norm_u, B[2:] * norm_v
    steps, loss, cw, ce = [], [], [], []
    for t in range(n_steps + 1):
        a = np.exp(-V @ u1)          # (K,)
        b = np.exp(V @ u2)
        if t % log_every == 0 or t == n_steps:
            steps.append(t)
            loss.append(float(a.sum() + b.sum()))
            U = V / np.linalg.norm(V, axis=1, keepdims=True)
            C = U @ U.T
            cw.append(float(C[~np.eye(K, dtype=bool)].min()) if K > 1 else np.nan)
            w = u1 - u2
            ce.append(float((U @ w).min() / np.linalg.norm(w)))
        g1 = -(a[:, None] * V).sum(0)
        g2 = (b[:, None] * V).sum(0)
        gV = -a[:, None] * u1[None, :] + b[:, None] * u2[None, :]
        u1, u2, V = u1 - lr * g1, u2 - lr * g2, V - lr * gV
    return AlignmentTrajectory(np.array(steps), np.array(loss), np.array(cw), np.array(ce))


def gd_fixed_embedding_alignment(m: int, concept: int = 0, *, dim: int | None = None, lr: float = 0.1,
                                 n_steps: int = 5000, log_every: int = 100,
                                 rng: np.random.Generator | None = None,
                                 model: LatentConceptModel | None = None) -> AlignmentTrajectory:
    """Thm 4: f fixed on the contexts d^⋄_(i→1), d^⋄_(i→0); g trained by full-batch GD on cross-entropy.

    The loss is the exact population cross-entropy over those two contexts (each with
    its probability under the model). Theorem: cos(Δ^t_{c1,i}, Δ^t_{c2,i}) → 1 for all c1, c2.
    ``cos_within`` logs the minimum pairwise cosine of the Δ_{c,i}; ``cos_embedding`` the
    minimum cosine between Δ_{c,i} and f(d^⋄_(i→1)) − f(d^⋄_(i→0)) (which need not go to 1
    with f fixed — it is logged for contrast with Thm 5).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    dim = m if dim is None else dim
    model = LatentConceptModel.random(m, rng) if model is None else model
    d = all_contexts(m)
    keep = np.flatnonzero(((d == UNKNOWN).sum(1) == m - 1) & (d[:, concept] != UNKNOWN))
    keep = keep[np.argsort(d[keep, concept])]                        # (i→0), (i→1)
    P = model.conditional(d[keep])                                   # (2, 2^m)
    w = np.array([1 - model.marginals()[concept], model.marginals()[concept]])
    f = rng.standard_normal((2, dim))
    G = rng.standard_normal((2 ** m, dim))
    steps, loss, cw, ce = [], [], [], []
    for t in range(n_steps + 1):
        logits = f @ G.T
        logits -= logits.max(1, keepdims=True)
        Q = np.exp(logits)
        Q /= Q.sum(1, keepdims=True)
        if t % log_every == 0 or t == n_steps:
            Delta = unembedding_steering_vectors(G, concept)
            U = Delta / np.linalg.norm(Delta, axis=1, keepdims=True)
            C = U @ U.T
            steps.append(t)
            loss.append(float(-(w[:, None] * P * np.log(np.maximum(Q, 1e-300))).sum()))
            cw.append(float(C[~np.eye(len(C), dtype=bool)].min()) if len(C) > 1 else np.nan)
            e = f[1] - f[0]
            ce.append(float((U @ e).min() / np.linalg.norm(e)))
        G = G - lr * ((w[:, None] * (Q - P)).T @ f)
    return AlignmentTrajectory(np.array(steps), np.array(loss), np.array(cw), np.array(ce))


def cosine_table(result: ConceptTrainingResult) -> dict:
    """JSON-ready per-run metrics and summary of a training result."""
    return {"config": result.config, "summary": result.summary(),
            "per_run": {k: result.metric(k).tolist() for k in ("unembedding", "embedding", "mixed", "across_abs")},
            "final_loss": result.loss_history[-1].tolist(),
            "heatmap_mean": np.mean([c.heatmap for c in result.cosines], axis=0).tolist()}


__all__ += ["exact_expected_loss", "cosine_table", "SteeringCosines"]
