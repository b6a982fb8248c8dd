"""The columns of L(H, F) from the engine's features: the centered head and the column rules.

With the identity head, features are final hidden states φ and a column (f, z) is φᵀ(ψ(z) − ψ̄)
(Golowich, Liu, Shetty 2025, Def. 2.1 with the bridge identity); with the model's own head they
are centered logit rows and a column is an index. :class:`ColumnValues` computes the entries of a
chunk's block, its contribution to the streaming Gram, and the ``topk_average`` rule's columns.
"""

from __future__ import annotations

import numpy as np
import torch

from logitrank.theory.logit_matrix import choose_column_tokens

__all__ = ["ColumnValues"]


class ColumnValues:
    """Entries of L(H, F) from features (identity head: φ; logits head: centered logit rows)."""

    def __init__(self, lm, psi_c: torch.Tensor, head_mode: str):
        self.lm = lm
        self.V = lm.vocab_size
        self.device = lm.device
        self.psi_c = psi_c                        # (V, d) centered unembedding
        self.head_mode = head_mode
        self._metric_root = None

    def values(self, feats: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Centered logits at columns: feats (..., nf, m), cols (nf, k) → (..., nf, k)."""
        if self.head_mode == "identity":
            psi = self.psi_c[cols]                                        # (nf, k, d)
            return torch.einsum("hfd,fkd->hfk", feats, psi)
        idx = cols.unsqueeze(0).expand(feats.shape[0], -1, -1)
        return torch.gather(feats, 2, idx)

    def full(self, feats: torch.Tensor) -> torch.Tensor:
        """Full centered logit rows: (..., m) → (..., V)."""
        return feats @ self.psi_c.T if self.head_mode == "identity" else feats

    def full_metric(self) -> torch.Tensor:
        """C with C Cᵀ = Ψ_cᵀ Ψ_c (float64), so that ‖φᵀΨ_cᵀ‖ inner products are φᵀ C Cᵀ φ'."""
        if self._metric_root is None:
            M = (self.psi_c.double().T @ self.psi_c.double())
            lam, Q = torch.linalg.eigh(M)
            self._metric_root = Q * lam.clamp_min(0).sqrt()
        return self._metric_root

    def topk_average(self, feats: torch.Tensor, futures, k: int) -> np.ndarray:
        """Rule 'topk_average' for a chunk: top-k of (1/|H|) Σ_h P(z | h∘f), sorted token ids."""
        n_hist, nf = feats.shape[:2]
        acc = torch.zeros((nf, self.V), dtype=torch.float64, device=self.device)
        for s in range(0, n_hist, 8):
            logits = self.full(feats[s:s + 8])                  # (≤8, nf, V): one pass over Ψ_c per 8 histories
            # The float64 softmax one history at a time: (nf, V) stays in cache, where a block of
            # 8 histories (8·nf·V·8 bytes, 50 MB at nf = 16) went through memory 3 times
            # (measured 0.42 → 0.29 s for 24 × 16 rows of SmolLM2 on 1 CPU thread, head included).
            if self.device.type == "cpu":
                for row in logits:
                    acc += torch.softmax(row.double(), dim=-1)
            else:                                                # no cache to fit; fewer launches
                acc += torch.softmax(logits.double(), dim=-1).sum(dim=0)
        probs = (acc / n_hist).cpu().numpy()
        return choose_column_tokens(self.lm, (), futures, "topk_average", k, average_probabilities=probs)

    def chunk_block(self, feats: torch.Tensor, chunk_cols, need_block: bool):
        """One chunk's block B (|H|, nf, k) or None, and X with X Xᵀ = B Bᵀ (float64, |H| rows)."""
        n = feats.shape[0]
        if chunk_cols is None:                      # full vocabulary: Φ_f C with C Cᵀ = Ψ_cᵀΨ_c
            block = self.full(feats) if need_block else None
            X = (feats.double() @ self.full_metric()) if self.head_mode == "identity" else feats.double()
            return block, X.reshape(n, -1)
        block = self.values(feats, torch.as_tensor(chunk_cols, device=self.device))
        return block, block.double().reshape(n, -1)

