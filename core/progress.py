"""Progress bars that read well on a terminal and in a log file: the one helper every bar uses.

On a terminal :func:`progress` is tqdm (carriage-return updates, ETA). When its stream is not
a terminal — a batch job's log, ``2> log.txt``, a pipe — carriage-return updates would pile up
into one line of hundreds of kilobytes, so it writes whole lines instead: one when the bar
starts, one every ``percent`` per cent of the total (or every ``seconds`` seconds when there is
no total or the work stalls) and one when it ends, each the usual tqdm meter
(``L(H,F) chunks:  45% 9/20 [00:03<00:04, 2.50chunk/s]``).

``progress(...)`` takes tqdm's arguments and returns a tqdm object (``update``, ``total``,
``set_postfix``, ``close``, iteration, ``with``), so it replaces ``tqdm(...)`` as is.
``LOGITRANK_PROGRESS=lines`` (or ``bars``) overrides the terminal check.
"""

from __future__ import annotations

import os
import sys
import time

from tqdm.std import tqdm as _std_tqdm

__all__ = ["LineProgress", "progress", "writes_lines"]


class _Discard:
    """Where tqdm's own carriage-return output goes when whole lines are written instead."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


def writes_lines(stream=None) -> bool:
    """Whether bars on ``stream`` (default stderr) write whole lines: not a terminal, or forced by
    ``LOGITRANK_PROGRESS``."""
    mode = os.environ.get("LOGITRANK_PROGRESS", "").lower()
    if mode in ("lines", "bars"):
        return mode == "lines"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:          # a closed stream
        return True


class LineProgress(_std_tqdm):
    """A tqdm bar that writes one plain line per ``percent`` % of progress or per ``seconds`` seconds.

    tqdm itself writes into a sink; the lines go to ``file`` (default stderr). A line is also
    written at the start and, if anything moved since the last one, at the end.
    """

    def __init__(self, *args, percent: float = 5.0, seconds: float = 30.0, **kw):
        self._out = kw.pop("file", None) or sys.stderr
        self._percent, self._seconds = float(percent), float(seconds)
        self._line_n, self._line_t = None, 0.0
        kw.update(file=_Discard(), mininterval=0, miniters=1, dynamic_ncols=False, ncols=0)
        kw.setdefault("maxinterval", max(self._seconds, 1.0))
        super().__init__(*args, **kw)

    def _line(self) -> None:
        self._out.write(self.format_meter(**self.format_dict).strip() + "\n")
        self._out.flush()
        self._line_n, self._line_t = self.n, time.monotonic()

    def display(self, msg=None, pos=None):
        if self.disable or msg == "":          # msg "" is tqdm clearing its line: nothing to clear here
            return True
        if self._line_n is None:
            self._line()
            return True
        step = self.total * self._percent / 100 if self.total else None
        if ((step and self.n - self._line_n >= step) or (self.total and self.n >= self.total > self._line_n)
                or time.monotonic() - self._line_t >= self._seconds):
            self._line()
        return True

    def clear(self, nolock=False):
        pass

    def close(self):
        if not self.disable and getattr(self, "_line_n", None) is not None and self.n != self._line_n:
            self._line()
        super().close()


def progress(iterable=None, *, file=None, percent: float = 5.0, seconds: float = 30.0, **kw):
    """A progress bar over ``iterable`` (tqdm's arguments): tqdm on a terminal, whole lines elsewhere.

    ``percent`` and ``seconds`` set how often a line is written when the stream is not a terminal.

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> for _ in progress(range(40), desc="work", file=log, percent=25):
    ...     pass
    >>> [line.split()[2] for line in log.getvalue().splitlines()]
    ['0/40', '10/40', '20/40', '30/40', '40/40']
    """
    if writes_lines(file):
        return LineProgress(iterable, file=file, percent=percent, seconds=seconds, **kw)
    from tqdm.auto import tqdm
    return tqdm(iterable, file=file, **kw)
