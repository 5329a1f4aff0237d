"""Build params: lists of psets (dicts) to loop over.

A *plist* is a list of one-key dicts for one parameter, ``plist("a", [1, 2])
== [{"a": 1}, {"a": 2}]``. Loops over plists (``itertools.product``, ``zip``,
or anything else) give nested tuples of dicts, which :func:`itr2params` merges
into psets.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from io import IOBase
from typing import Any

import numpy as np

from psweep.errors import PgridError, PsweepHashError, PsweepParamsError
from psweep.params.hashing import pset_hash

__all__ = [
    "filter_params_dup_hash",
    "filter_params_unique",
    "filter_same_hash",
    "flatten",
    "flatten_dict",
    "intspace",
    "is_seq",
    "itr",
    "itr2params",
    "logspace",
    "merge_dicts",
    "pgrid",
    "plist",
    "stargrid",
]


def is_seq(obj: Any) -> bool:
    """Tell whether `obj` is a sequence of items to loop over.

    Lists, tuples, sets, arrays, iterators and other iterables are; strings,
    bytes, dicts and open files are not, although Python can iterate them.
    """
    if isinstance(obj, str | bytes | dict | IOBase):
        return False
    try:
        iter(obj)
    except TypeError:
        return False
    return True


def flatten(seq: Iterable) -> Iterator:
    """Yield the non-sequence items of arbitrarily nested sequences."""
    for item in seq:
        if is_seq(item):
            yield from flatten(item)
        else:
            yield item


def itr(func: Callable) -> Callable:
    """Let `func`, which takes one sequence, also take its items as arguments.

    ``f(a, b)`` becomes ``f([a, b])``; ``f([a, b])`` stays as it is; a single
    non-sequence ``f(a)`` becomes ``f([a])``. Keyword arguments are passed on.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwds):
        if len(args) == 1:
            (arg,) = args
            return func(arg if is_seq(arg) else [arg], **kwds)
        return func(args, **kwds)

    return wrapper


def plist(name: str, seq: Iterable) -> list[dict]:
    """Return the list of one-key dicts ``[{name: value}, ...]``.

    Examples
    --------
    >>> plist("a", [1, 2, 3])
    [{'a': 1}, {'a': 2}, {'a': 3}]
    """
    if not is_seq(seq):
        raise PsweepParamsError(
            f"plist({name!r}, ...) needs a sequence of values, got "
            f"{type(seq).__name__}: {seq!r}; wrap a single value in a list"
        )
    return [{name: value} for value in seq]


@itr
def merge_dicts(dicts: Iterable[dict], *, allow_dup_keys: bool = True) -> dict:
    """Merge dicts left to right into a new dict; later keys win.

    Takes several dicts or one sequence of them. With ``allow_dup_keys=False``
    a key in two neighbouring dicts is an error (as in psweep 0.16, which
    compares only neighbours).

    Examples
    --------
    >>> merge_dicts({"a": 1, "b": 2}, {"b": 3})
    {'a': 1, 'b': 3}
    """
    merged: dict = {}
    last: dict = {}
    for pos, entry in enumerate(dicts):
        if not isinstance(entry, dict):
            raise PsweepParamsError(
                f"merge_dicts() takes dicts, got {type(entry).__name__} {entry!r} at position {pos}"
            )
        dups = last.keys() & entry.keys()
        if dups and not allow_dup_keys:
            raise PsweepParamsError(
                f"merge_dicts(allow_dup_keys=False): key {sorted(dups, key=str)[0]!r} is in the "
                f"dicts at positions {pos - 1} and {pos}"
            )
        merged.update(entry)
        last = entry
    return merged


def flatten_dict(dct: dict, join_str: str = "_") -> dict:
    """Flatten nested dicts: ``{"a": {"b": 1}}`` becomes ``{"a_b": 1}``.

    Nested keys are joined as ``str(outer) + join_str + str(inner)``; top-level
    keys keep their type; empty nested dicts vanish.

    Examples
    --------
    >>> flatten_dict({"a": {"b": 1, "c": {"d": 2}}, "e": 3})
    {'a_b': 1, 'a_c_d': 2, 'e': 3}
    """
    out: dict = {}
    for key, value in dct.items():
        if isinstance(value, dict):
            for sub, item in flatten_dict(value, join_str).items():
                out[f"{key}{join_str}{sub}"] = item
        else:
            out[key] = value
    return out


def _merge_disjoint(dicts: Iterable, loop_item: Any) -> dict:
    merged: dict = {}
    for entry in dicts:
        if not isinstance(entry, dict):
            raise PsweepParamsError(
                f"loop item {loop_item!r} holds {entry!r} of type "
                f"{type(entry).__name__}; loops must yield dicts (plists)"
            )
        dups = merged.keys() & entry.keys()
        if dups:
            raise PsweepParamsError(
                f"parameter {sorted(dups, key=str)[0]!r} appears more than once "
                f"in loop item {loop_item!r}; each plist must set different "
                "parameters"
            )
        merged.update(entry)
    return merged


def _check_zip(obj: Any) -> None:
    """Refuse a ``zip`` of sequences with different lengths.

    ``zip`` stops at the shortest input, which silently drops psets. We look
    at the remaining lengths of its inputs where Python knows them.
    """
    if type(obj) is not zip:
        return
    reduced = obj.__reduce__()
    inputs = reduced[1]
    if len(reduced) > 2 and reduced[2]:
        return  # zip(..., strict=True) raises on its own
    lengths = [operator.length_hint(it, -1) for it in inputs]
    if -1 in lengths:
        return
    if len(set(lengths)) > 1:
        raise PsweepParamsError(
            f"zip() of sequences with different lengths {lengths} would "
            f"silently drop psets beyond the shortest ({min(lengths)}); give "
            "all zipped plists the same length"
        )


def itr2params(loops: Iterable) -> list[dict]:
    """Turn the items of loops over plists into a list of psets.

    Each item (a dict, or nested tuples of dicts as made by
    ``itertools.product`` and ``zip``) is flattened and merged into one pset.

    Examples
    --------
    >>> import itertools
    >>> a, b = plist("a", [1, 2]), plist("b", ["x", "y"])
    >>> itr2params(itertools.product(a, b))
    [{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    >>> itr2params(zip(a, b))
    [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
    """
    _check_zip(loops)
    params = []
    for item in loops:
        if isinstance(item, dict):
            params.append(dict(item))
        else:
            params.append(_merge_disjoint(flatten(item), item))
    keysets = {frozenset(pset) for pset in params}
    if len(keysets) > 1:
        keys = sorted((sorted(map(str, ks)) for ks in keysets), key=len)
        raise PsweepParamsError(
            f"loop items give psets with different parameters {keys}; "
            "check the loops, or build params by concatenating lists"
        )
    return params


_PGRID_HINT = (
    "pgrid() loops over the product of its arguments: pass two or more "
    "plists, pgrid(a, b), or one list of them, pgrid([a]), pgrid([zip(a, b)])"
)


def pgrid(*plists: Any) -> list[dict]:
    """Return all combinations of the values in `plists` (nested loops).

    Same as ``itr2params(itertools.product(*plists))``. Takes several plists
    (or ``zip`` objects of plists), or one sequence of them.

    Examples
    --------
    >>> a, b = plist("a", [1, 2]), plist("b", [77, 88])
    >>> pgrid(a, b)
    [{'a': 1, 'b': 77}, {'a': 1, 'b': 88}, {'a': 2, 'b': 77}, {'a': 2, 'b': 88}]
    >>> pgrid([a])
    [{'a': 1}, {'a': 2}]
    >>> pgrid(zip(a, b), plist("c", [0]))
    [{'a': 1, 'b': 77, 'c': 0}, {'a': 2, 'b': 88, 'c': 0}]
    """
    if len(plists) == 0:
        raise PgridError(f"pgrid() got no arguments. {_PGRID_HINT}")
    if len(plists) == 1:
        (arg,) = plists
        if not is_seq(arg):
            raise PgridError(f"pgrid() got a single {type(arg).__name__} {arg!r}. {_PGRID_HINT}")
        if type(arg) is zip:
            raise PgridError(
                "pgrid() got a single zip(...), whose items would be looped over one "
                f"by one; write pgrid([zip(...)]) instead. {_PGRID_HINT}"
            )
        plists = tuple(arg)
        for entry in plists:
            if isinstance(entry, tuple) and entry and all(isinstance(d, dict) for d in entry):
                raise PgridError(
                    f"pgrid() got loop items such as {entry!r} (the output of zip or "
                    "product) instead of plists; pass the zip itself in a list, "
                    f"pgrid([zip(a, b)]), or use itr2params(...). {_PGRID_HINT}"
                )
    for pos, entry in enumerate(plists):
        if isinstance(entry, dict):
            raise PgridError(
                f"pgrid() got the dict {entry!r} at position {pos} where a plist "
                f"(list of dicts) belongs; for a single plist a, call pgrid([a]). "
                f"{_PGRID_HINT}"
            )
        if not is_seq(entry):
            raise PgridError(
                f"pgrid() got {type(entry).__name__} {entry!r} at position {pos}, "
                f"which is no plist. {_PGRID_HINT}"
            )
        _check_zip(entry)
    return itr2params(itertools.product(*plists))


def filter_same_hash(params: Sequence[dict], **kwds: Any) -> list[dict]:
    """Drop psets whose :func:`pset_hash` repeats; keep the first of each.

    `kwds` go to :func:`pset_hash`.
    """
    seen: set = set()
    out = []
    for pset in params:
        key = pset_hash(pset, **kwds)
        if key != key:  # nan from raise_error=False: cannot compare, keep
            out.append(pset)
            continue
        if key not in seen:
            seen.add(key)
            out.append(pset)
    return out


def filter_params_unique(params: Sequence[dict]) -> list[dict]:
    """Keep the first pset of each hash, in order (psweep 0.16).

    A pset's hash is its ``_pset_hash`` if it has one (a row read back from
    a database), else :func:`pset_hash`.
    """
    seen: set = set()
    out = []
    for pset in params:
        key = pset.get("_pset_hash", None) or pset_hash(pset)
        if key not in seen:
            seen.add(key)
            out.append(pset)
    return out


def filter_params_dup_hash(params: Sequence[dict], hashes: Iterable[str]) -> list[dict]:
    """The psets whose hash is not in `hashes` (e.g. a database's ``_pset_sha1``)."""
    known = set(hashes)
    return [p for p in params if (p.get("_pset_hash", None) or pset_hash(p)) not in known]


def stargrid(
    const: dict,
    vary: Sequence[Sequence[dict]],
    vary_labels: Sequence[str] | None = None,
    vary_label_col: str = "_vary",
    filter_dups: bool = True,
    *,
    skip_dups: bool | None = None,
) -> list[dict]:
    """Vary one thing at a time around a constant pset (a "star").

    Each plist in `vary` is looped over with all other parameters held at
    their values in `const`. ``vary_labels`` (one per entry of `vary`) go into
    the column `vary_label_col` to tell the scans apart later. With
    `filter_dups`, psets that occur in several scans (the centre of the star)
    are kept once, unless a value cannot be hashed. ``skip_dups`` is the name
    psweep 0.16 gives `filter_dups`.

    Examples
    --------
    >>> const = {"a": 1, "b": 77}
    >>> stargrid(const, [plist("a", [1, 2]), plist("b", [77, 88])])
    [{'a': 1, 'b': 77}, {'a': 2, 'b': 77}, {'a': 1, 'b': 88}]
    """
    if not isinstance(const, dict):
        raise PsweepParamsError(
            f"stargrid() needs a dict as const, got {type(const).__name__}: {const!r}"
        )
    vary = list(vary)
    if vary_labels is not None and len(vary_labels) != len(vary):
        raise PsweepParamsError(
            f"stargrid() needs one label per entry of vary, got "
            f"{len(vary_labels)} labels {list(vary_labels)!r} for {len(vary)} entries"
        )
    params = []
    for pos, scan in enumerate(vary):
        label = {} if vary_labels is None else {vary_label_col: vary_labels[pos]}
        for pset in scan:
            params.append(merge_dicts(const, pset, label))
    if skip_dups is not None:
        filter_dups = skip_dups
    if not filter_dups:
        return params
    try:
        return filter_same_hash(params, raise_error=True, skip_special_cols=True)
    except PsweepHashError:
        return params


def intspace(*args: Any, dtype: Any = np.int64, **kwds: Any) -> np.ndarray:
    """Like :func:`numpy.linspace`, rounded to unique integers.

    Rounding can make neighbours equal, so the result may be shorter than
    `num`.

    Examples
    --------
    >>> intspace(0, 4, 3)
    array([0, 2, 4])
    """
    return np.unique(np.round(np.linspace(*args, **kwds)).astype(dtype))


def logspace(
    start: float,
    stop: float,
    num: int = 50,
    offset: float = 0,
    log_func: Callable = np.log10,
    **kwds: Any,
) -> np.ndarray:
    """Like :func:`numpy.logspace`, but `start` and `stop` are the bounds.

    ``offset`` softens the log scale: the points are
    ``np.logspace(log(start + offset), log(stop + offset)) - offset``, so
    ``offset=0`` is plain log spacing and a large offset approaches even
    spacing. A `base` in `kwds` must match `log_func` (default: 10 and
    ``np.log10``).

    Examples
    --------
    >>> logspace(1, 100, 3)
    array([  1.,  10., 100.])
    """
    base = kwds.pop("base", 10.0)
    low = min(np.min(start), np.min(stop)) + offset
    if not low > 0:  # also nan
        raise PsweepParamsError(
            f"logspace(): start + offset and stop + offset must be > 0 (their log is taken), "
            f"got start={start!r}, stop={stop!r}, offset={offset!r}; to start at 0, pass "
            f"offset > 0, e.g. logspace({start!r}, {stop!r}, offset=1)"
        )
    if not np.allclose(log_func(base), 1.0):
        raise PsweepParamsError(
            f"logspace(): log_func {getattr(log_func, '__name__', log_func)} "
            f"does not match base={base}; pass a log_func with log_func(base) == 1"
        )
    return (
        np.logspace(
            log_func(start + offset),
            log_func(stop + offset),
            num=num,
            base=base,
            **kwds,
        )
        - offset
    )
