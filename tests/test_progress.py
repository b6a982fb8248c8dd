"""Progress bars in a log file: whole lines, a few per run, never carriage-return updates."""

import io

import pytest

import logitrank.progress as progress_module
from logitrank.progress import LineProgress, progress, writes_lines


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_file_gets_one_line_per_step_of_percent(monkeypatch):
    monkeypatch.delenv("LOGITRANK_PROGRESS", raising=False)
    log = io.StringIO()
    with progress(total=1000, desc="L(H,F) chunks", unit="chunk", file=log) as bar:
        for _ in range(1000):
            bar.update(1)
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    # The start line, then 5 %, 10 %, … 100 %: 21 lines, each the tqdm meter of that moment.
    assert len(lines) == 21
    assert lines[0].startswith("L(H,F) chunks:   0% 0/1000") and lines[-1].startswith("L(H,F) chunks: 100% 1000/1000")
    assert [int(ln.split()[3].split("/")[0]) for ln in lines] == list(range(0, 1001, 50))
    assert max(map(len, lines)) < 120


def test_without_a_total_a_line_every_few_seconds(monkeypatch):
    """No total: the clock decides (a fake clock; nothing here is timed)."""
    clock = {"t": 100.0}
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock["t"])
    log = io.StringIO()
    bar = LineProgress(desc="generation", unit="step", file=log, seconds=30)
    for i in range(6):
        clock["t"] += 10 if i % 3 else 40           # steps 0 and 3 come after a long wait
        bar.update(1)
    bar.close()
    counts = [ln.split()[1] for ln in log.getvalue().splitlines()]
    assert counts == ["0step", "1step", "4step", "6step"]        # start, two after waits, the end


def test_terminal_gets_tqdm_and_the_environment_overrides(monkeypatch):
    monkeypatch.delenv("LOGITRANK_PROGRESS", raising=False)
    assert writes_lines(io.StringIO()) and not writes_lines(_Terminal())
    assert not isinstance(progress(range(3), file=_Terminal()), LineProgress)
    monkeypatch.setenv("LOGITRANK_PROGRESS", "lines")
    assert writes_lines(_Terminal())
    monkeypatch.setenv("LOGITRANK_PROGRESS", "bars")
    assert not writes_lines(io.StringIO())


@pytest.mark.parametrize("disable", [True, False])
def test_a_disabled_or_empty_bar_writes_nothing_more_than_its_lines(disable):
    log = io.StringIO()
    bar = LineProgress(total=0, desc="x", file=log, disable=disable)
    bar.close()
    assert log.getvalue().count("\n") == (0 if disable else 1)
