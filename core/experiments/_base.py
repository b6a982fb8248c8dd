"""The experiment record, the claim row, and the (de)serialisation helpers every experiment uses.

An experiment is one module of :mod:`logitrank.experiments` that defines

- a frozen **config** dataclass whose field defaults *are* the defaults (the ``quick``
  profile), and one instance per profile in ``PROFILES``;
- a frozen **result** dataclass with ``save(dir)`` and ``load(dir)`` (JSON + NPZ through
  :mod:`logitrank.io`), the only thing its figure module reads;
- ``compute(config, out_dir, inputs=None) -> Result`` (``out_dir`` may hold checkpoints;
  ``inputs`` maps the names in ``inputs`` to their results directories);
- ``EXPERIMENT = Experiment(...)``, which the registry (:mod:`logitrank.jobs`) discovers.

The cache key of a result is the hash of ``dataclasses.asdict(config)`` with the name,
version and input keys, so equal configs map to the same directory on every machine.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from logitrank.errors import InvalidInputError
from logitrank.io import config_hash

__all__ = ["Claim", "Experiment", "Result", "VERDICTS", "config_from_dict", "config_record"]

VERDICTS = ("yes", "partly", "no", "inconclusive", "n/a")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One row of docs/RESULTS.md: a claim of a paper, its number, ours, and a verdict."""

    lens: str
    claim: str
    paper: str
    ours: str
    setting: str
    verdict: str
    figure: str | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise InvalidInputError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


class Result(Protocol):
    """What a result type offers: ``save(dir)`` and ``load(dir)`` (a classmethod)."""

    def save(self, out_dir: Path) -> None: ...

    @classmethod
    def load(cls, results_dir: Path) -> Result: ...


def config_record(config: Any) -> dict:
    """The JSON record of a config dataclass (``dataclasses.asdict``), hashed for the cache key."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise InvalidInputError(f"an experiment config must be a dataclass instance, got {type(config).__name__}")
    return dataclasses.asdict(config)


def _is_tuple_type(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in typing.get_args(tp))
    return False


def config_from_dict(cls: type, record: Mapping) -> Any:
    """Rebuild a config dataclass from its JSON record (JSON lists back to the tuples they were)."""
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in record:
            v = record[f.name]
            kw[f.name] = tuple(v) if isinstance(v, list) and _is_tuple_type(hints[f.name]) else v
    return cls(**kw)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One figure of the papers: configs per profile, a compute function, a result type, a figure module.

    Parameters
    ----------
    name : str
        The experiment's (and its figure's) name; also the name of its module.
    lens : str
        ``"logits"``, ``"weights"`` or ``"representations"``.
    title : str
        One line for the report and ``logitrank list``.
    order : int
        Position in the report (ascending); discovery order does not matter.
    profiles : mapping
        ``{"quick": config, "full": config}``, frozen config dataclass instances.
    compute : callable
        ``compute(config, out_dir, inputs=None) -> result``.
    result_type : type
        The result dataclass (``save``/``load``) its figure module reads.
    figure_module : str
        ``logitrank.paper_figs.<figure_module>`` provides ``plot(results_dir, figures_dir)``
        and ``claims(results_dir)``.
    version : int
        Bump to invalidate cached results when the computation changes.
    inputs : tuple of str
        Experiments whose results this one reads; run first, their keys enter this key.
    """

    name: str
    lens: str
    title: str
    order: int
    profiles: Mapping[str, Any]
    compute: Callable[..., Any]
    result_type: type
    figure_module: str
    version: int = 1
    inputs: tuple[str, ...] = ()

    def config(self, profile: str) -> Any:
        """The config dataclass of ``profile``."""
        if profile not in self.profiles:
            raise InvalidInputError(f"experiment {self.name!r} has no profile {profile!r}; "
                                    f"choose from {sorted(self.profiles)}")
        return self.profiles[profile]

    def config_record(self, profile: str) -> dict:
        """The JSON record of the profile's config (written to ``config.json``)."""
        return config_record(self.config(profile))

    def key(self, profile: str, input_keys: dict | None = None) -> str:
        """Hash of name, version, config record and input keys: the results directory's suffix."""
        return config_hash({"job": self.name, "version": self.version, "config": self.config_record(profile),
                            "inputs": input_keys or {}})

    def run(self, profile: str, out_dir: Path, inputs: dict[str, Path] | None = None) -> None:
        """Compute the profile's result into ``out_dir`` and save it there."""
        cfg = self.config(profile)
        result = self.compute(cfg, Path(out_dir), inputs) if self.inputs else self.compute(cfg, Path(out_dir))
        if not isinstance(result, self.result_type):
            raise TypeError(f"{self.name}: compute returned {type(result).__name__}, "
                            f"expected {self.result_type.__name__}")
        result.save(Path(out_dir))

    def figures(self):
        """The figure module (``plot`` and ``claims``)."""
        return importlib.import_module(f"logitrank.paper_figs.{self.figure_module}")
