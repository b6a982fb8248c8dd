"""The experiment record, the claim row, and the (de)serialisation helpers every experiment uses.

An experiment is one module of :mod:`logitrank.experiments` that defines

- a frozen **config** dataclass whose field defaults *are* the defaults (the ``quick``
  profile), and one instance per profile in ``PROFILES``;
- a frozen **result** dataclass with ``save(dir)`` and ``load(dir)`` (JSON + NPZ through
  :mod:`logitrank.io`), the only thing its figure module reads — usually by inheriting
  :class:`SavedResult`, which writes array fields to one NPZ and the rest to one JSON;
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
from typing import Any, ClassVar, Protocol

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.io import atomic_save_npz, atomic_write_json, config_hash, read_json

__all__ = ["Claim", "Experiment", "Result", "SavedResult", "VERDICTS", "config_from_dict", "config_record",
           "from_record"]

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


def _decode(tp: Any, value: Any) -> Any:
    """``value`` (parsed JSON) as type ``tp``: dicts to dataclasses, lists to tuples; scalars as parsed."""
    if value is None:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_record(tp, value)
    if (tp is tuple or origin is tuple) and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is dict and isinstance(value, Mapping) and len(args) == 2:
        return {k: _decode(args[1], v) for k, v in value.items()}
    return value


def from_record(cls: type, record: Mapping) -> Any:
    """Rebuild a (nested) frozen dataclass from its JSON record, by the field type hints.

    Nested dataclasses come back from their dicts, ``tuple[...]`` fields from JSON lists (also
    inside ``dict[str, ...]`` and ``X | None``); scalars stay as JSON parsed them, so a record
    written by ``dataclasses.asdict`` loads back equal to what was saved.
    """
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _decode(hints[f.name], record[f.name]) for f in dataclasses.fields(cls)
                  if f.init and f.name in record})


def _is_array_type(tp: Any) -> bool:
    """``np.ndarray``, ``dict[str, np.ndarray]`` or a dataclass whose fields are all arrays."""
    if tp is np.ndarray or (typing.get_origin(tp) is dict and typing.get_args(tp)[1:] == (np.ndarray,)):
        return True
    return (dataclasses.is_dataclass(tp) and
            all(h is np.ndarray for h in typing.get_type_hints(tp).values()))


def _from_npz(tp: Any, value: np.ndarray) -> Any:
    """A scalar field saved as a 0-d array, back as its type (``int``, ``float``, ``str``, ``bool``)."""
    inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    return inner[0](value) if inner[0] in (int, float, str, bool) else value


class SavedResult:
    """Save/load for a frozen result dataclass: array fields to one NPZ, all other fields to one JSON.

    A subclass names its files in the class attributes ``ARRAYS`` (the ``.npz``) and ``RECORD``
    (the ``.json``). Fields typed ``np.ndarray`` are NPZ entries of that name; fields typed
    ``dict[str, np.ndarray]`` are entries ``"<field>/<key>"``, and so are fields typed as a dataclass
    of arrays (``"<field>/<its field>"``). The other fields go to the JSON
    record (``dataclasses.asdict``, rebuilt by :func:`from_record`); with ``RECORD = None`` they
    are 0-d NPZ entries instead, cast back by their type hint. A subclass may add companion
    files (a summary for people) by overriding :meth:`save` and calling ``super().save``.

    Examples
    --------
    >>> import tempfile
    >>> @dataclasses.dataclass(frozen=True)
    ... class Spectrum(SavedResult):
    ...     ARRAYS, RECORD = "spectrum.npz", "spectrum.json"
    ...     singular_values: np.ndarray
    ...     model: str
    >>> with tempfile.TemporaryDirectory() as d:
    ...     Spectrum(np.array([3.0, 1.0]), "toy").save(d)
    ...     Spectrum.load(d).model, sorted(p.name for p in Path(d).iterdir())
    ('toy', ['spectrum.json', 'spectrum.npz'])
    """

    ARRAYS: ClassVar[str | None] = None
    RECORD: ClassVar[str | None] = None

    @classmethod
    def _split(cls) -> tuple[list, list, dict]:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        arrays = [f.name for f in fields if _is_array_type(hints[f.name])]
        return arrays, [f.name for f in fields if f.name not in arrays], hints

    def save(self, out_dir: Path) -> None:
        """Write ``ARRAYS`` (NPZ) and ``RECORD`` (JSON) into ``out_dir``."""
        arrays, others, hints = self._split()
        npz = {}
        for name in arrays:
            value = getattr(self, name)
            if hints[name] is np.ndarray:
                npz[name] = np.asarray(value)
            elif dataclasses.is_dataclass(hints[name]):
                npz.update({f"{name}/{f.name}": np.asarray(getattr(value, f.name))
                            for f in dataclasses.fields(value)})
            else:
                npz.update({f"{name}/{k}": np.asarray(v) for k, v in value.items()})
        if self.RECORD is None:
            npz.update({name: np.asarray(getattr(self, name)) for name in others})
        else:
            atomic_write_json(Path(out_dir) / self.RECORD,
                              {name: _as_record(getattr(self, name)) for name in others})
        if self.ARRAYS is not None:
            atomic_save_npz(Path(out_dir) / self.ARRAYS, **npz)

    @classmethod
    def load(cls, results_dir: Path):
        """The result saved by :meth:`save` in ``results_dir``."""
        arrays, others, hints = cls._split()
        kw: dict[str, Any] = {}
        if cls.RECORD is not None:
            record = read_json(Path(results_dir) / cls.RECORD)
            kw.update({name: _decode(hints[name], record[name]) for name in others})
        if cls.ARRAYS is not None:
            with np.load(Path(results_dir) / cls.ARRAYS) as z:
                for name in arrays:
                    if hints[name] is np.ndarray:
                        kw[name] = z[name]
                    elif dataclasses.is_dataclass(hints[name]):
                        kw[name] = hints[name](**{f.name: z[f"{name}/{f.name}"]
                                                  for f in dataclasses.fields(hints[name])})
                    else:
                        kw[name] = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(name + "/")}
                if cls.RECORD is None:
                    kw.update({name: _from_npz(hints[name], z[name]) for name in others})
        return cls(**kw)


def _as_record(value: Any) -> Any:
    """``dataclasses.asdict`` for dataclass values (anywhere inside), the value itself otherwise."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (tuple, list)):
        return [_as_record(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_record(v) for k, v in value.items()}
    return value


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
