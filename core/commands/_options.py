"""The one option vocabulary of the commands that touch a model, and its checks.

Every command declares its options with these ``Annotated`` types instead of its own
``typer.Option(...)``, so ``--model``, ``--device``, ``--dtype``, ``--seed``, ``--twin SEED``,
``--text PATH``, ``--stride``, ``--offset``, ``--nonsense``, ``--threads`` and ``--out`` mean
the same everywhere. The ``check_*`` functions validate a value *before* any model loads and
raise :class:`~logitrank.errors.InvalidInputError` / :class:`~logitrank.errors.ModelLoadError`
with a one-line message (the CLI turns it into ``error: …`` and exit code 2).

Nothing here imports torch at module level: ``logitrank --help`` stays fast.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from logitrank.errors import InvalidInputError
from logitrank.theory.logit_matrix import COLUMN_RULES

__all__ = ["Model", "Device", "Dtype", "Seed", "Twin", "Text", "Stride", "Offset", "Nonsense", "Threads", "Out",
           "RULES", "TOKENIZER_FILES", "check_model", "check_model_options", "model_config", "check_against_model",
           "check_loaded_model", "check_logit_matrix_memory", "check_windows", "check_device", "check_dtype", "check_rule", "check_positive", "check_text",
           "check_fit_range", "parse_floats", "concept_name"]

Model = Annotated[str, typer.Option("--model", help="'smollm2', a .gguf file, a model directory (with "
                                                    "config.json) or a hub id in the local cache.")]
Device = Annotated[str | None, typer.Option("--device", help="cpu, cuda or cuda:N (default: cuda when available).")]
Dtype = Annotated[str, typer.Option("--dtype", help="float32 | bfloat16 | float16 | float64.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random choice (text windows, samples, shuffles, "
                                                  "random columns).")]
def _twin_seed(seed: int | None) -> int | None:
    """``--twin SEED`` is a seed of NumPy/torch generators: an integer >= 0 (checked while parsing)."""
    if seed is not None and seed < 0:
        raise InvalidInputError(f"--twin {seed}: the twin's seed must be >= 0")
    return seed


Twin = Annotated[int | None, typer.Option("--twin", metavar="SEED", callback=_twin_seed,
                                          help="Use the model's random-init twin with this seed instead.")]
Text = Annotated[str | None, typer.Option(
    "--text", metavar="PATH", help="Real text: a UTF-8 file, a directory of .txt files or 'shakespeare' (the "
                                   "embedded corpus). Seeded, non-overlapping windows; histories, futures and "
                                   "targets come from disjoint segments. Default: samples of the model.")]
Stride = Annotated[int | None, typer.Option("--stride", help="Tokens between window starts inside a text segment "
                                                             "(>= window length; default: the window length).")]
Offset = Annotated[int, typer.Option("--offset", help="Start of the first window inside each text segment.")]
Nonsense = Annotated[bool, typer.Option("--nonsense", help="Token-shuffle the histories and futures (the paper's "
                                                           "Option 2).")]
Threads = Annotated[int | None, typer.Option("--threads", help="Torch CPU threads (default: all cores); recorded "
                                                               "in result.json.")]
Out = Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Write result.json (inputs and outputs), "
                                                                       "CSV tables and the figure (PNG) here; a "
                                                                       "rerun with the same inputs reuses or "
                                                                       "resumes it.")]

#: Column rules of :func:`logitrank.theory.logit_matrix.choose_column_tokens`.
RULES = COLUMN_RULES


#: Files of which a model directory holds at least one when it carries its tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")


def check_model(model: str, *, tokenizer: bool = True) -> str:
    """The model source, checked without loading: a missing path, no config.json, a truncated GGUF, a
    directory without the tokenizer a command needs (``tokenizer``), a hub id not in the local cache."""
    from logitrank.errors import ModelLoadError
    from logitrank.real_models.loading import check_source
    kind = check_source(model)
    if kind == "gguf":
        _check_gguf_tensors(Path(model))
    elif kind == "dir" and tokenizer and not any((Path(model) / f).is_file() for f in TOKENIZER_FILES):
        raise ModelLoadError(f"model directory {model} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                             f"this command turns text into tokens and back, so save the tokenizer there too "
                             f"(tokenizer.save_pretrained(DIR))")
    elif kind == "hub":
        from huggingface_hub import constants
        cached = Path(constants.HF_HUB_CACHE) / f"models--{model.replace('/', '--')}"
        if not cached.is_dir():
            raise ModelLoadError(f"hub id {model!r} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}); "
                                 f"nothing is downloaded at run time: fetch it where a network is available "
                                 f"(huggingface-cli download {model}) or pass a local model directory")
    return model


def model_config(model: str) -> dict | None:
    """The model's ``config.json`` as a dict when it can be read without loading weights, else None.

    A model directory and a cached hub id have it on disk; a GGUF file (``smollm2`` included) has
    it in its dequantised copy once cached, and before that the sizes its metadata states
    (:func:`_gguf_config`). The text part of a multimodal config (``text_config``) wins.
    """
    import json

    from logitrank.real_models import loading
    kind = loading.check_source(model)
    path = None
    if kind == "dir":
        path = Path(model) / "config.json"
    elif kind == loading.MINILM:
        path = loading.packaged_model_path(loading.MINILM) / "config.json"
    elif kind in ("gguf", loading.SMOLLM2):
        gguf = loading.packaged_model_path(loading.SMOLLM2) if kind == loading.SMOLLM2 else Path(model)
        cached = loading._gguf_cache_path(gguf)
        if not (cached / "DONE").exists():
            return _gguf_config(gguf)
        path = cached / "config.json"
    elif kind == "hub":
        from huggingface_hub import try_to_load_from_cache
        found = try_to_load_from_cache(model, "config.json")
        path = Path(found) if isinstance(found, str) else None
    if path is None or not path.is_file():
        return None
    cfg = json.loads(path.read_text(encoding="utf-8"))
    return {**cfg, **cfg.get("text_config", {})}


def check_against_model(model: str, *, tokens_per_query: dict[str, int] | None = None, k: int | None = None,
                        rule: str | None = None, prefix_tokens: int = 1) -> dict | None:
    """Sizes that the model's config bounds, checked before it loads (when its config is on disk).

    ``tokens_per_query`` names the options whose tokens go into one forward pass (``{"--history-length":
    20, "--future-length": 4}``, plus ``prefix_tokens``, the BOS token) — their sum must fit the context
    window; ``k`` top-k columns must not exceed the vocabulary. Returns the config (None if unknown:
    then :func:`check_loaded_model` runs the same checks on the loaded model, before any work).
    """
    cfg = model_config(model)
    if cfg is None:
        return None
    context = next((int(cfg[key]) for key in ("max_position_embeddings", "n_positions", "max_sequence_length",
                                              "seq_length") if isinstance(cfg.get(key), int)), None)
    vocab = cfg.get("vocab_size") if isinstance(cfg.get("vocab_size"), int) else None
    _check_limits(model, context, vocab, tokens_per_query=tokens_per_query, k=k, rule=rule,
                  prefix_tokens=prefix_tokens)
    return cfg


def check_loaded_model(lm, model: str, *, tokens_per_query: dict[str, int] | None = None, k: int | None = None,
                       rule: str | None = None) -> None:
    """:func:`check_against_model` on a loaded model (its context window, its LM head's width)."""
    _check_limits(model, lm.max_context, lm.vocab_size, tokens_per_query=tokens_per_query, k=k, rule=rule,
                  prefix_tokens=len(getattr(lm, "prefix_tokens", ())))


def _check_limits(model: str, context: int | None, vocab: int | None, *, tokens_per_query, k, rule,
                  prefix_tokens: int) -> None:
    if tokens_per_query and context is not None:
        total = sum(tokens_per_query.values()) + prefix_tokens
        if total > context:
            parts = " + ".join([f"{opt} {n}" for opt, n in tokens_per_query.items()]
                               + [f"{prefix_tokens} prefix token"] * bool(prefix_tokens))
            raise InvalidInputError(f"{parts} = {total} tokens per query exceeds the context "
                                    f"window of {model} ({context} tokens); use shorter windows")
    if k is not None and rule != "full" and vocab is not None and k > vocab:
        raise InvalidInputError(f"--k {k} exceeds the vocabulary of {model} ({vocab} tokens); use --k <= {vocab}")


def check_logit_matrix_memory(cfg: dict | None, *, histories: int, history_length: int, columns: int,
                              dtype: str, device: str | None, gram: bool) -> int:
    """Refuse, before anything loads, an L(H, F) whose estimated memory exceeds what is available.

    The estimate counts the float64 |H| × |H| Gram twice (it and its eigendecomposition) with
    ``gram``, else the float64 |H| × columns matrix; and, when the config is known, the engine's
    KV bank: every history's keys and values, ``|H| · (length + 1) · layers · 2 · kv_heads · head_dim``
    elements of ``dtype``. Returns the estimate in bytes.
    """
    from logitrank.real_models.runtime import check_memory, resolve_dtype
    nbytes = 2 * 8 * histories ** 2 if gram else 8 * histories * columns
    what = f"L(H, F) with --histories {histories} ({'Gram' if gram else 'matrix'}"
    if cfg is not None and isinstance(cfg.get("num_hidden_layers"), int) and isinstance(cfg.get("hidden_size"), int):
        heads = int(cfg.get("num_attention_heads") or 1)
        head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // heads)
        kv = int(cfg.get("num_key_value_heads") or heads)
        nbytes += (histories * (history_length + 1) * cfg["num_hidden_layers"] * 2 * kv * head_dim
                   * resolve_dtype(dtype).itemsize)
        what += " and the histories' KV cache"
    check_memory(nbytes, what + "); ask for fewer histories or shorter ones", device)
    return int(nbytes)


@functools.lru_cache(maxsize=4)
def _gguf_reader(path: Path):
    """One parse of a GGUF file's header, metadata and tensor table per process (None without ``gguf``)."""
    try:
        import gguf
    except ImportError:  # pragma: no cover - transformers' GGUF loading needs it anyway
        return None
    return gguf.GGUFReader(path)


#: config.json names of the GGUF metadata keys ``<architecture>.<key>`` that bound a request.
_GGUF_CONFIG_KEYS = {"context_length": "max_position_embeddings", "embedding_length": "hidden_size",
                     "block_count": "num_hidden_layers", "attention.head_count": "num_attention_heads",
                     "attention.head_count_kv": "num_key_value_heads", "vocab_size": "vocab_size"}


def _gguf_config(path: Path) -> dict | None:
    """The sizes a GGUF file's metadata states, under their config.json names (None if unreadable)."""
    try:
        reader = _gguf_reader(Path(path))
        if reader is None:
            return None
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode()
        cfg = {}
        for key, name in _GGUF_CONFIG_KEYS.items():
            f = reader.fields.get(f"{arch}.{key}")
            if f is not None:
                cfg[name] = int(f.parts[f.data[0]][0])
        if "vocab_size" not in cfg and "tokenizer.ggml.tokens" in reader.fields:
            cfg["vocab_size"] = len(reader.fields["tokenizer.ggml.tokens"].data)
        return cfg
    except (KeyError, IndexError, ValueError, OSError):
        return None


def _check_gguf_tensors(path: Path) -> None:
    """Every tensor of a GGUF file lies inside the file (a truncated download fails here, not in a reshape)."""
    from logitrank.errors import ModelLoadError
    size = path.stat().st_size
    try:
        reader = _gguf_reader(Path(path))
        if reader is None:  # pragma: no cover
            return
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except (ValueError, IndexError, OSError) as exc:
        raise ModelLoadError(f"{path} is truncated or corrupt ({size} bytes; its tensors do not fit: "
                             f"{str(exc).splitlines()[0]}); re-download or re-export it") from None
    if end > size:
        raise ModelLoadError(f"{path} is truncated ({size} bytes, its tensors need {end}); re-download or "
                             f"re-export it")


def check_device(device: str | None) -> None:
    """A device that exists here (``--device cuda`` without CUDA is an error, not a traceback)."""
    from logitrank.real_models.runtime import resolve_device
    resolve_device(device)


def check_dtype(dtype: str) -> None:
    """A known dtype name."""
    from logitrank.real_models.runtime import resolve_dtype
    resolve_dtype(dtype)


def check_rule(rule: str) -> str:
    """One of :data:`RULES`."""
    if rule not in RULES:
        raise InvalidInputError(f"unknown --rule {rule!r}; choose one of {', '.join(RULES)}")
    return rule


def check_positive(**values) -> None:
    """Every named size is an integer >= 1 (``--k 0``, ``--histories -3`` …)."""
    for name, v in values.items():
        if v is not None and v < 1:
            raise InvalidInputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def check_threads(threads: int | None) -> None:
    """``--threads`` is None (all cores) or >= 1."""
    check_positive(threads=threads)


def check_text(text: str | None) -> None:
    """A text source that exists and reads as text: a file or a directory of .txt files (each
    non-empty UTF-8, not binary — read here, before any model loads), or a fetched embedded corpus."""
    if text is None:
        return
    if text == "":
        raise InvalidInputError("--text is empty; pass a text file, a directory of .txt files or 'shakespeare'")
    from logitrank.real_models.corpus import EMBEDDED_CORPORA, corpus_dir
    if text in EMBEDDED_CORPORA:
        if not (corpus_dir(text) / "CORPUS.json").is_file():
            raise InvalidInputError(f"the {text!r} corpus is not in the cache; run `make setup` or "
                                    f"`python -m logitrank.real_models.corpus fetch`")
        return
    p = Path(text)
    if not p.exists():
        raise InvalidInputError(f"--text {text}: no such file or directory; pass a UTF-8 text file, a "
                                f"directory of .txt files or one of {EMBEDDED_CORPORA}")
    if p.is_dir() and not any(q.is_file() for q in p.glob("*.txt")):
        raise InvalidInputError(f"--text {text}: directory has no .txt files")
    from logitrank.real_models.corpus import read_documents
    try:
        read_documents(text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"--text: {exc}") from None


def check_windows(text: str | None, request: dict[str, tuple[int, int]], *, stride: int | None,
                  offset: int) -> None:
    """With ``--text``, the windows ``request`` asks for fit the corpus's segments (before loading).

    The checks of :func:`logitrank.real_models.corpus.check_window_request`, in the options'
    names, plus: a stride that leaves a segment with at most one window whatever its value is
    refused (any larger stride gives the same windows, so the value would say nothing).
    """
    if stride is not None and stride < 1:
        raise InvalidInputError(f"--stride must be >= 1, got {stride}")
    if offset < 0:
        raise InvalidInputError(f"--offset must be >= 0, got {offset}")
    if text is None:
        return
    from logitrank.real_models.corpus import SEGMENT_TOKENS, check_window_request
    for split, (_, length) in request.items():
        if offset + length > SEGMENT_TOKENS:
            raise InvalidInputError(f"--offset {offset} + the {split} length {length} exceed a text segment "
                                    f"({SEGMENT_TOKENS} tokens, the unit that keeps histories, futures and "
                                    f"targets apart); use shorter windows or a smaller --offset")
        room = max(length, SEGMENT_TOKENS - offset - length)
        if stride is not None and stride > room:
            raise InvalidInputError(f"--stride {stride} is larger than a text segment leaves room for "
                                    f"({SEGMENT_TOKENS} tokens from --offset {offset}, windows of {length}): at most "
                                    f"one {split} window per segment for any such stride; use --stride <= {room}")
    check_window_request(request, stride=stride, offset=offset)


def check_fit_range(lo: float, hi: float) -> tuple[float, float]:
    """A power-law fit range (1-based indices, or fractions of n in (0, 1]) with lo < hi."""
    if not (lo > 0 and hi > 0 and lo < hi):
        raise InvalidInputError(f"--fit-range {lo} {hi}: need 0 < lo < hi (indices, or fractions of n in (0, 1])")
    return lo, hi


def parse_floats(text: str, name: str) -> list[float]:
    """A comma-separated list of numbers (``--alphas 0,0.2,0.4``); bad items are named."""
    items = [t.strip() for t in text.split(",")]
    out = []
    for t in items:
        try:
            out.append(float(t))
        except ValueError:
            raise InvalidInputError(f"--{name} {text!r}: {t!r} is not a number; give comma-separated numbers "
                                    f"such as 0,0.2,0.4") from None
    return out


def concept_name(name: str, known) -> str:
    """The concept of the word-pair table that ``name`` means; ASCII aliases for ``⇒``.

    ``male=>female``, ``male->female`` and ``male-female`` all mean ``male⇒female``; case is
    ignored.
    """
    if name in known:
        return name
    def norm(s):
        return s.lower().replace("⇒", "=>")
    for sep in ("=>", "->", "-", ":"):
        cand = norm(name).replace(sep, "=>", 1) if sep != "=>" else norm(name)
        for k in known:
            if norm(k) == cand:
                return k
    ascii_names = ", ".join(k.replace("⇒", "=>") for k in known)
    raise InvalidInputError(f"unknown concept {name!r}; choose one of {ascii_names}")


def check_model_options(model: str, device: str | None, dtype: str, *, threads: int | None = None,
                        text: str | None = None, tokenizer: bool = True) -> None:
    """The checks every model command runs before loading: text, threads, device, dtype, model source
    (with its tokenizer, unless the command works on weights only: ``tokenizer=False``)."""
    check_text(text)
    check_threads(threads)
    check_device(device)
    check_dtype(dtype)
    check_model(model, tokenizer=tokenizer)
