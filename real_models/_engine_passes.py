"""The model passes behind the engine: the head, the history bank and four ways to run futures.

:class:`ForwardPasses` turns histories and futures into the features whose products with the
column tokens are the entries of L(H, F) — final hidden states φ(h∘f) when the head is the
identity L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄), centered logit rows otherwise — by one of four paths:

- ``packed``: all futures of a chunk in one row per history, a prefix-tree attention mask and
  explicit positions; the history cache is never copied per future (full causal attention only).
- ``repeat``: the history cache copied once per (history, future) row, the futures right-padded
  and run in one forward (key/value caches, sliding windows, ALiBi).
- ``step``: the same copies advanced one token per forward (recurrent and state-space states,
  whose multi-token continuation transformers does not implement).
- ``naive``: prefix ∘ h ∘ f run in full for every pair, grouped by length (no cache; always exact).

:meth:`ForwardPasses.choose_path` tries the family's candidates fastest first and takes the first
whose features equal the naive path's on a sample of the request itself (its longest history,
its longest future and two more of each), so a shortcut a family does not admit is never used.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from logitrank.errors import InvalidInputError, ModelOutputError
from logitrank.real_models.family import (agreement_tolerance, cache_kwarg, cache_nbytes, find_decoder, model_logits,
                                          output_cache, select_cache_rows)

__all__ = ["ForwardPasses", "ENGINE_PATHS"]

ENGINE_PATHS = ("packed", "repeat", "step", "naive")


@dataclasses.dataclass
class _BankEntry:
    """Histories of one length: their indices in H, tokens (with prefix), cache and last features."""

    sel: np.ndarray
    ids: torch.Tensor
    cache: object
    last: torch.Tensor


class ForwardPasses:
    """Features of histories and of history ∘ future pairs for one wrapped model (see module notes)."""

    def __init__(self, lm, *, head: str, head_dtype, max_batch_tokens: int, history_batch: int, max_kv_mib: float,
                 path: str):
        if path not in ("auto",) + ENGINE_PATHS:
            raise InvalidInputError(f"path must be 'auto' or one of {ENGINE_PATHS}, got {path!r}")
        self.lm = lm
        self.model = lm.model
        self.family = lm.family
        self.device = lm.device
        self.V = lm.vocab_size
        self.head_dtype = head_dtype
        self.max_batch_tokens = int(max_batch_tokens)
        self.history_batch = int(history_batch)
        self.max_kv_mib = float(max_kv_mib)
        self.forced_path = None if path == "auto" else path
        self.tokens = 0                 # tokens of the requests themselves
        self.check_tokens = 0           # tokens spent checking candidate paths
        self.decoder = find_decoder(self.model)
        self._decoder_kw = cache_kwarg(self.decoder) if self.decoder is not None else None
        W = self.model.get_output_embeddings().weight.detach().to(head_dtype)
        self.psi_c = W - W.mean(dim=0, keepdim=True)                     # (V, d) centered unembedding
        self.head_mode = self._check_identity() if head == "auto" else head
        if self.head_mode == "identity" and self.decoder is None:
            raise InvalidInputError("head='identity' needs a model with get_decoder(); use head='logits'")
        self.path: str | None = None
        self.path_notes: dict[str, str] = {}
        self._verified_longest = -1

    # --- the head -------------------------------------------------------------------------
    @torch.no_grad()
    def _check_identity(self) -> str:
        """'identity' if hidden @ Wᵀ reproduces the model's logits (and nothing in the config caps
        or scales them); else 'logits' (the model's own head on the needed positions)."""
        if self.decoder is None or self.family.head_reason:
            return "logits"
        gen = np.random.default_rng(1)
        body = gen.integers(0, self.V, size=(2, 8)).tolist()
        ids = torch.tensor([self.lm.prefix_tokens + b for b in body], device=self.device)
        try:
            logits = self.model(input_ids=ids).logits.float()
            hidden = self.decoder(input_ids=ids).last_hidden_state
        except Exception:   # a decoder that cannot run alone: use the model's own head
            return "logits"
        if not isinstance(hidden, torch.Tensor) or hidden.shape[:2] != logits.shape[:2] \
                or hidden.shape[-1] != self.psi_c.shape[1]:
            return "logits"
        W = self.model.get_output_embeddings().weight.T.to(self.psi_c.dtype)
        mine = (hidden.to(self.psi_c.dtype) @ W).float()
        tol = agreement_tolerance(self.lm.dtype, float(logits.abs().max()) + 1.0)
        return "identity" if float((mine - logits).abs().max()) <= tol else "logits"

    def _center(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.to(self.head_dtype)
        return logits - logits.mean(dim=-1, keepdim=True)

    def feature_width(self) -> int:
        return self.psi_c.shape[1] if self.head_mode == "identity" else self.V

    # --- one forward ----------------------------------------------------------------------
    def _forward(self, ids: torch.Tensor, *, cache=None, use_cache: bool, at=None, per_row=None, **kw):
        """Features at the last position (default), at shared positions ``at`` → (b, n, m), or at
        one position per row ``per_row`` → (b, m); and the cache the forward returned."""
        self.tokens += int(ids.numel())
        if self.head_mode == "identity":
            if cache is not None:
                kw[self._decoder_kw] = cache
            out = self.decoder(input_ids=ids, use_cache=use_cache, **kw)
            h, new_cache = out.last_hidden_state, output_cache(out)
            if at is not None:
                return h[:, at].to(self.head_dtype), new_cache
            if per_row is not None:
                return h[torch.arange(h.shape[0], device=h.device), per_row].to(self.head_dtype), new_cache
            return h[:, -1].to(self.head_dtype), new_cache
        if at is not None:
            logits, new_cache = model_logits(self.model, self.family, ids, keep=at, cache=cache,
                                             use_cache=use_cache, **kw)
            return self._center(logits), new_cache
        if per_row is not None:
            keep = torch.unique(per_row)
            logits, new_cache = model_logits(self.model, self.family, ids, keep=keep, cache=cache,
                                             use_cache=use_cache, **kw)
            pos = torch.searchsorted(keep, per_row)
            return self._center(logits[torch.arange(ids.shape[0], device=ids.device), pos]), new_cache
        logits, new_cache = model_logits(self.model, self.family, ids, keep=1, cache=cache, use_cache=use_cache, **kw)
        return self._center(logits[:, -1]), new_cache

    # --- the history bank -----------------------------------------------------------------
    @torch.no_grad()
    def bank(self, H, path: str) -> list[_BankEntry]:
        """Histories grouped by length (no padding), each group run once; its cache kept unless
        ``path`` is ``naive``."""
        head = list(self.lm.prefix_tokens)
        by_len: dict[int, list[int]] = {}
        for i, h in enumerate(H):
            by_len.setdefault(len(h), []).append(i)
        entries = []
        for _, idx in sorted(by_len.items()):
            for s in range(0, len(idx), self.history_batch):
                sel = idx[s:s + self.history_batch]
                ids = torch.tensor([head + H[i].tolist() for i in sel], dtype=torch.long, device=self.device)
                keep_cache = path != "naive"
                last, cache = self._forward(ids, use_cache=keep_cache)
                if keep_cache and cache is None:
                    raise InvalidInputError(f"{self.family.architecture} returned no cache; use path='naive'")
                entries.append(_BankEntry(np.asarray(sel), ids, cache if keep_cache else None, last))
        return entries

    @staticmethod
    def history_states(bank, n: int) -> np.ndarray:
        states = np.empty((n, bank[0].last.shape[-1]))
        for e in bank:
            states[e.sel] = e.last.double().cpu().numpy()
        return states

    # --- futures on top of the bank -------------------------------------------------------
    @torch.no_grad()
    def chunk_features(self, bank, F_chunk, n_hist: int, path: str | None = None) -> torch.Tensor:
        """Final features φ(h∘f) for all histories × the chunk's futures: (|H|, nf, m)."""
        path = path or self.path
        nf = len(F_chunk)
        out = torch.empty((n_hist, nf, self.feature_width()), dtype=self.head_dtype, device=self.device)
        lens = np.array([len(f) for f in F_chunk])
        empty = np.flatnonzero(lens == 0)
        full = np.flatnonzero(lens > 0)
        run = {"packed": self._packed, "repeat": self._repeat, "step": self._step, "naive": self._naive}[path]
        for e in bank:
            sel_t = torch.as_tensor(e.sel, device=self.device)
            for j in empty:
                out[sel_t, j] = e.last
            if len(full):
                run(out, sel_t, e, [np.asarray(F_chunk[j]) for j in full], full)
        return out

    def _rows_per_pass(self, e: _BankEntry, tokens_per_row: int, copies_per_row: int, extra_len: int = 0) -> int:
        """Histories per forward so that future tokens and copied cache rows stay within budget."""
        n = len(e.sel)
        per_row = max(cache_nbytes(e.cache) // max(n, 1), 1) if e.cache is not None else 1
        per_row = per_row * (e.ids.shape[1] + extra_len) / max(e.ids.shape[1], 1)
        rows_tok = self.max_batch_tokens // max(tokens_per_row, 1)
        rows_mem = int(self.max_kv_mib * 2**20 // (per_row * max(copies_per_row, 1)))
        return max(1, min(rows_tok, max(rows_mem, 1)))

    def _padded(self, futs):
        lens = np.array([len(f) for f in futs])
        ids = torch.zeros((len(futs), int(lens.max())), dtype=torch.long)
        for r, f in enumerate(futs):
            ids[r, :len(f)] = torch.as_tensor(f)
        return ids.to(self.device), torch.as_tensor(lens - 1, device=self.device)

    def _packed(self, out, sel_t, e: _BankEntry, futs, full_idx) -> None:
        """One packed forward per group of histories (prefix-tree mask, positions restart after h)."""
        P = int(e.ids.shape[1])
        lens = [len(f) for f in futs]
        S = int(sum(lens))
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        seg = np.repeat(np.arange(len(futs)), lens)                       # future of each packed token
        within = np.arange(S) - np.repeat(starts, lens)                     # offset inside its future
        ids = torch.as_tensor(np.concatenate(futs), dtype=torch.long, device=self.device)
        pos = torch.as_tensor(P + within, device=self.device)
        seg_t = torch.as_tensor(seg, device=self.device)
        within_t = torch.as_tensor(within, device=self.device)
        # Token q sees the whole prefix, and the tokens of its own future up to itself.
        own = (seg_t[:, None] == seg_t[None, :]) & (within_t[None, :] <= within_t[:, None])
        mask = torch.cat([torch.ones((S, P), dtype=torch.bool, device=self.device), own], dim=1)
        ends = torch.as_tensor(starts + np.asarray(lens) - 1, device=self.device)
        full_t = torch.as_tensor(full_idx, device=self.device)
        n = len(sel_t)
        hb = self._rows_per_pass(e, S, 1, extra_len=S)
        for s in range(0, n, hb):
            rows = torch.arange(s, min(s + hb, n), device=self.device)
            c = select_cache_rows(e.cache, rows, n)
            b = len(rows)
            feats, _ = self._forward(ids.expand(b, -1), cache=c, use_cache=True, at=ends,
                                     position_ids=pos.expand(b, -1), attention_mask=mask.expand(b, 1, -1, -1))
            out[sel_t[rows].unsqueeze(1), full_t.unsqueeze(0)] = feats

    def _copies(self, e: _BankEntry, futs):
        """Per pass: (history rows, their cache copied once per future, future ids, last positions)."""
        ids_f, last_pos = self._padded(futs)
        n, nf = len(e.sel), len(futs)
        hb = self._rows_per_pass(e, ids_f.shape[1] * nf, nf, extra_len=ids_f.shape[1])
        for s in range(0, n, hb):
            rows = torch.arange(s, min(s + hb, n), device=self.device)
            c = select_cache_rows(e.cache, rows.repeat_interleave(nf), n)
            yield rows, c, ids_f.repeat(len(rows), 1), last_pos.repeat(len(rows))

    def _repeat(self, out, sel_t, e: _BankEntry, futs, full_idx) -> None:
        """The history cache copied per future; right-padded futures in one forward (a pad never
        reaches an earlier position under causal attention)."""
        cols = torch.as_tensor(full_idx, device=self.device)
        for rows, c, ids, last in self._copies(e, futs):
            feats, _ = self._forward(ids, cache=c, use_cache=True, per_row=last)
            out[sel_t[rows].unsqueeze(1), cols.unsqueeze(0)] = feats.reshape(len(rows), len(futs), -1)

    def _step(self, out, sel_t, e: _BankEntry, futs, full_idx) -> None:
        """The history cache copied per future and advanced one token per forward."""
        cols = torch.as_tensor(full_idx, device=self.device)
        for rows, c, ids, last in self._copies(e, futs):
            feats = torch.empty((ids.shape[0], self.feature_width()), dtype=self.head_dtype, device=self.device)
            for t in range(ids.shape[1]):
                f, c = self._forward(ids[:, t:t + 1], cache=c, use_cache=True)
                done = last == t
                feats[done] = f[done]
            out[sel_t[rows].unsqueeze(1), cols.unsqueeze(0)] = feats.reshape(len(rows), len(futs), -1)

    def _naive(self, out, sel_t, e: _BankEntry, futs, full_idx) -> None:
        """prefix ∘ h ∘ f in full, one forward per group of equal-length futures (no padding)."""
        by_len: dict[int, list[int]] = {}
        for r, f in enumerate(futs):
            by_len.setdefault(len(f), []).append(r)
        n = len(sel_t)
        for length, rs in by_len.items():
            L = e.ids.shape[1] + length
            per = max(1, self.max_batch_tokens // L)
            pairs = [(i, r) for i in range(n) for r in rs]
            for s in range(0, len(pairs), per):
                part = pairs[s:s + per]
                ids = torch.stack([torch.cat([e.ids[i], torch.as_tensor(futs[r], device=self.device)])
                                   for i, r in part])
                feats, _ = self._forward(ids, use_cache=False)
                hi = torch.as_tensor([i for i, _ in part], device=self.device)
                fj = torch.as_tensor([int(full_idx[r]) for _, r in part], device=self.device)
                out[sel_t[hi], fj] = feats

    # --- choosing the path ----------------------------------------------------------------
    def choose_path(self, H, F, *, packing: bool = True) -> str:
        """The fastest candidate path whose features equal the naive path's on a sample of (H, F)."""
        n_pre = len(self.lm.prefix_tokens)
        longest = max(len(h) for h in H) + max(len(f) for f in F) + n_pre
        if self.forced_path is not None:
            self.path = self.forced_path
            return self.path
        if self.path is not None and longest <= self._verified_longest:
            return self.path
        candidates = [p for p in self.family.engine_paths(longest) if packing or p != "packed"]
        hs = _sample_indices([len(h) for h in H])
        fs = _sample_indices([len(f) for f in F], nonzero=True)
        chosen = "naive"
        tokens_before = self.tokens
        if fs:
            sub_h = [H[i] for i in hs]
            sub_f = [F[j] for j in fs]
            try:
                ref = self.chunk_features(self.bank(sub_h, "naive"), sub_f, len(sub_h), "naive")
            except (RuntimeError, ValueError, TypeError, AttributeError, IndexError) as exc:
                raise ModelOutputError(
                    f"{self.family.architecture} ({self.family.model_type}): a plain forward of prefix ∘ history ∘ "
                    f"future failed ({type(exc).__name__}: {str(exc)[:160]}); this family cannot give logits for "
                    f"token ids alone") from exc
            tol = agreement_tolerance(self.lm.dtype, float(ref.abs().max()) + 1.0)
            for cand in candidates:
                if cand == "naive":
                    break
                try:
                    got = self.chunk_features(self.bank(sub_h, cand), sub_f, len(sub_h), cand)
                    err = float((got - ref).abs().max())
                except Exception as exc:   # the shortcut does not run on this family
                    self.path_notes[cand] = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
                    continue
                if err <= tol:
                    chosen = cand
                    break
                self.path_notes[cand] = f"differs from full forwards by {err:.3g} (tolerance {tol:.3g})"
        else:
            chosen = candidates[0]
        self.check_tokens += self.tokens - tokens_before
        self.tokens = tokens_before
        self.path = chosen
        self._verified_longest = longest
        return chosen


def _sample_indices(lengths, nonzero: bool = False, n: int = 3) -> list[int]:
    """The longest item, the first and one from the middle (distinct; non-empty ones if asked)."""
    idx = [i for i, L in enumerate(lengths) if L > 0 or not nonzero]
    if not idx:
        return []
    longest = max(idx, key=lambda i: lengths[i])
    picks = [longest, idx[0], idx[len(idx) // 2], min(idx, key=lambda i: lengths[i])]
    out = []
    for i in picks:
        if i not in out:
            out.append(i)
    return out[:n]
