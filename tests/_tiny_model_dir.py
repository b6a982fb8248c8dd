"""The tiny random Llama of _tiny_llama.py saved as a model directory, with a character tokenizer.

The CLI loads models by path, and text options need a tokenizer: this writes
``save_pretrained`` files plus a ``tokenizers`` character-level tokenizer (64 ids: ``<s>``,
``</s>``, ``<unk>`` and the 61 most frequent characters of tests/data/corpus).
"""

from collections import Counter
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "corpus"


def save_tiny_llama_dir(path, seed: int = 3) -> Path:
    from _tiny_llama import tiny_llama
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    path = Path(path)
    tiny_llama(seed=seed).model.save_pretrained(path)
    counts = Counter("".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))))
    chars = [c for c, _ in counts.most_common(61)]
    vocab = {"<s>": 0, "</s>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(path)
    return path


def run_cli(monkeypatch, capsys, args, *, forbid_load: str | None = None):
    """Run the ``logitrank`` console entry point with ``args``: (exit code, stdout, stderr).

    With ``forbid_load`` (a message), loading model weights fails the test with it.
    """
    import sys

    from logitrank import cli
    from logitrank.real_models import loading
    if forbid_load is not None:
        def never(*a, **k):
            raise AssertionError(forbid_load)
        monkeypatch.setattr(loading, "load_weights", never)
    monkeypatch.setattr(sys, "argv", ["logitrank", *map(str, args)])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
