"""Reproducible hashes of psets."""

from __future__ import annotations

import datetime
import decimal
import fractions
import hashlib
import inspect
import json
import os
import pathlib
import pickle
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from psweep.errors import PsweepError, PsweepHashError, PsweepParamsError

__all__ = [
    "get_many_uuids",
    "get_uuid",
    "is_empty",
    "pset_hash",
    "pset_hashes",
    "pset_hashes_by_name",
    "uuid4_strings",
]


def _json_default(obj: Any) -> Any:
    """Turn numpy values into the equal plain Python values for ``json``."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"value {obj!r} of type {type(obj).__name__} is not JSON serializable")


# the same text as json.dumps(pset, sort_keys=True), built once for speed
_ENCODER = json.JSONEncoder(sort_keys=True, default=_json_default)


def _make_c_encoder() -> Any:
    """The C encoder behind json.dumps, made once (json makes one per call).

    Returns None where the C accelerator is missing or behaves differently.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        enc = make(
            {}, _json_default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
            True, False, True,
        )  # fmt: skip
        probe = {"b": [1, 2.5, None, "\u00e9"], "a": {"y": True, "x": float("nan")}}
        if "".join(enc(probe, 0)) != json.dumps(probe, sort_keys=True):
            return None
    except Exception:
        return None
    return enc


def _is_special(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("_")


def _is_postfix(key: Any) -> bool:
    return isinstance(key, str) and key.endswith("_")


def _is_missing(val: Any) -> bool:
    """A cell that stands for an absent key: ``pd.NA`` (psweep 0.16's fill value)."""
    return val is _NA


_NA = pd.NA


# -- psets that plain JSON would blur --------------------------------------------------
# JSON turns the keys 1 and True into "1" and "true" (so {1: "x"} would hash like
# {"1": "x"}) and has no sets, dates or decimals. Such psets get a tagged canonical
# text instead, behind a prefix that no JSON text of a dict starts with, so they can
# collide neither with each other nor with plain psets, whose hashes stay as in 0.7.0.
_TAGGED = "psweep-hash-2:"
_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _plain(obj: Any) -> bool:
    """Whether the JSON text of `obj` says exactly what it is (str keys, JSON values)."""
    cls = obj.__class__
    if cls is dict:
        return all(k.__class__ is str and _plain(v) for k, v in obj.items())
    if cls is list or cls is tuple:
        return all(_plain(v) for v in obj)
    return isinstance(obj, (*_PLAIN_SCALARS, np.ndarray, np.generic))


def _tag(obj: Any, by_name: bool = False) -> Any:
    """A JSON-able form of `obj` that keeps its type: [tag, value].

    With `by_name`, objects without a stable text are tagged by :func:`_named`
    instead of raising TypeError.
    """
    if isinstance(obj, np.ndarray | np.generic):
        obj = obj.tolist()
    if obj is None or isinstance(obj, bool):
        return ["b", obj]  # before int: True is an int
    if isinstance(obj, int):
        return ["i", str(obj)]
    if isinstance(obj, float):
        return ["f", repr(obj)]
    if isinstance(obj, str):
        return ["s", obj]
    if isinstance(obj, list | tuple):  # a tuple hashes like the list (as in plain JSON)
        return ["l", [_tag(v, by_name) for v in obj]]
    if isinstance(obj, dict):
        items = [[_tag(k, by_name), _tag(v, by_name)] for k, v in obj.items()]
        return ["d", sorted(items, key=lambda kv: json.dumps(kv[0]))]
    if isinstance(obj, set | frozenset):
        return ["set", sorted((_tag(v, by_name) for v in obj), key=json.dumps)]
    try:
        return _tag_other(obj)
    except TypeError:
        if by_name:
            return _named(obj)
        raise


def _tag_other(obj: Any) -> list:
    """[tag, text] of a value that is no JSON type: dates and times, numbers of other
    kinds, paths; or raise TypeError."""
    if isinstance(obj, datetime.datetime):  # pd.Timestamp too: it comes back from a database
        return ["datetime", obj.isoformat()]
    if isinstance(obj, datetime.date | datetime.time):
        return [type(obj).__name__, obj.isoformat()]
    if isinstance(obj, datetime.timedelta):
        return ["timedelta", repr(obj.total_seconds())]
    if isinstance(obj, decimal.Decimal | fractions.Fraction | complex):
        return [type(obj).__name__, str(obj)]
    if isinstance(obj, pathlib.PurePath):
        return ["path", str(obj)]
    # functions, classes, ufuncs and other objects: known by name or identity only,
    # which says nothing of what they compute (psweep 0.7.0 gives them no hash either)
    raise TypeError(f"value {obj!r} of type {type(obj).__name__} has no stable hash")


def _named(obj: Any) -> list:
    """[tag, text] of a function, class or ufunc by its importable name, of another
    object by the digest of its pickle; or raise TypeError.

    A bound method counts with the object it is bound to (a classmethod with
    its class). Names that do not tell one object from another (lambdas,
    functions defined inside functions) raise: two of them must never count as
    the same.
    """
    if inspect.isroutine(obj) or isinstance(obj, type | np.ufunc):
        module = getattr(obj, "__module__", None)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not (isinstance(module, str) and isinstance(name, str)) or "<" in name:
            raise TypeError(f"{obj!r} has no importable name")
        owner = getattr(obj, "__self__", None)
        if owner is not None and not inspect.ismodule(owner):
            # a bound method, or a classmethod reached through a class: whose it is counts
            return ["method", f"{module}:{name}", _tag(owner, by_name=True)]
        return ["name", f"{module}:{name}"]
    try:
        blob = pickle.dumps(obj, protocol=4)
    except Exception as exc:  # pickling runs arbitrary code; any failure means no identity
        raise TypeError(f"{obj!r} cannot be pickled: {exc}") from exc
    return ["pickle", hashlib.sha1(blob).hexdigest()]


def _tagged_text(pset: dict) -> str:
    return _TAGGED + json.dumps(_tag(pset), separators=(",", ":"))


def pset_hash(
    pset: dict,
    method: str = "sha1",
    raise_error: bool = True,
    skip_special_cols: bool | None = None,
    *,
    skip_prefix_cols: bool = True,
    skip_postfix_cols: bool = True,
) -> str | float:
    """Return a hash of `pset` that is the same in every Python session.

    The hash is the hex digest of ``method`` applied to the JSON text of the
    pset with sorted keys, so the order of keys does not matter. numpy scalars
    and arrays hash like the equal Python values (``np.int64(1)`` like ``1``),
    so psets read back from a database hash like the ones that were run.
    Psets that JSON would blur (keys that are not strings, so that ``{1: "x"}``
    and ``{"1": "x"}`` differ; sets, dates and times, decimals, fractions,
    complex numbers, paths) are hashed from a canonical text that keeps every
    type; plain psets keep the hashes of psweep 0.7.0. Functions, classes,
    numpy ufuncs and other objects have no hash (as in psweep 0.7.0): their
    name says nothing of what they compute. ``method="joblib"`` hashes them as
    psweep 0.16 does.

    Parameters
    ----------
    pset
        The parameter set.
    method
        Any name :func:`hashlib.new` accepts; or ``"joblib"`` (``"joblib-md5"``)
        for the hash of psweep 0.16, ``joblib.hash(pset, hash_name="sha1")``
        (``"md5"``), which needs joblib installed.
    raise_error
        If the pset holds a value without a hash (a function, class or other
        object), raise :class:`PsweepHashError` (default) or return ``nan``.
    skip_prefix_cols
        Leave out keys that start with ``_`` (bookkeeping such as
        ``_pset_id``), so a pset hashes the same before and after a run.
    skip_postfix_cols
        Leave out keys that end with ``_`` (results by psweep 0.16's naming,
        such as ``energy_``).
    skip_special_cols
        The 0.7.0 name of `skip_prefix_cols`; when given, it wins.

    Keys whose value is ``pd.NA`` (the cells psweep 0.16 fills in for keys a
    pset did not have) are left out too, so a row read back from a 0.16
    database hashes like the pset that was run.

    Examples
    --------
    >>> pset_hash({"a": 1, "b": {"c": 2, "d": [1, 2, "a"]}})
    'c97e3156eaa0d0820cbc0ce114b3e45bef8e8536'
    """
    if not isinstance(pset, dict):
        raise PsweepHashError(f"pset_hash() needs a dict, got {type(pset).__name__}: {pset!r}")
    if skip_special_cols is not None:
        skip_prefix_cols = skip_special_cols
    pset = {
        key: val
        for key, val in pset.items()
        if not (
            (skip_prefix_cols and _is_special(key))
            or (skip_postfix_cols and _is_postfix(key))
            or val is _NA
        )
    }
    if method.startswith("joblib"):
        return _joblib_hash(pset, method, raise_error)
    try:
        text = _ENCODER.encode(pset) if _plain(pset) else _tagged_text(pset)
    except (TypeError, ValueError, RecursionError) as exc:
        if raise_error:
            raise PsweepHashError(
                f"cannot hash pset {pset!r}: {exc}; values must be numbers, strings, "
                "None, lists, tuples, dicts, sets, dates and times, decimals, paths, "
                "or numpy scalars/arrays (pset_hash(pset, method='joblib') hashes "
                "functions and classes by name, as psweep 0.16)"
            ) from exc
        return np.nan
    return hashlib.new(method, text.encode()).hexdigest()


def _joblib_hash(pset: dict, method: str, raise_error: bool) -> str | float:
    """psweep 0.16's hash: joblib's pickle-based digest of the filtered pset."""
    name = {"joblib": "sha1", "joblib-sha1": "sha1", "joblib-md5": "md5"}.get(method)
    if name is None:
        raise PsweepParamsError(
            f"pset_hash(): unknown method {method!r}; the joblib ones are 'joblib' "
            "(sha1, as psweep 0.16) and 'joblib-md5'"
        )
    try:
        import joblib
    except ImportError as exc:
        raise PsweepError(f"pset_hash(method={method!r}) needs joblib: pip install joblib") from exc
    try:
        return joblib.hash(pset, hash_name=name)
    except TypeError as exc:
        if raise_error:
            raise PsweepHashError(f"cannot hash pset {pset!r} with joblib: {exc}") from exc
        return np.nan


def _flat_layout(keys: tuple) -> tuple[str, tuple] | None:
    """How the JSON text of a pset with exactly these keys (in this order) and scalar
    values looks: the text with ``%s`` where the values go, and the keys in the order
    of the text (sorted). None if a key is not a plain string of the pset's own."""
    for key in keys:
        if key.__class__ is not str or key[:1] == "_" or key[-1:] == "_":
            return None
    order = tuple(sorted(keys))
    esc = json.encoder.encode_basestring_ascii
    return "{" + ", ".join(esc(k).replace("%", "%%") + ": %s" for k in order) + "}", order


_CONST_TEXT = {None: "null", True: "true", False: "false"}


def _flat_text(pset: Any, layouts: dict) -> str | None:
    """The JSON text that :func:`pset_hash` hashes, for a dict whose values are all ints,
    strings, finite floats, bools or None (the common case), put together from the
    layout of its keys (kept in `layouts`); None for any other pset."""
    if pset.__class__ is not dict:
        return None
    keys = tuple(pset)
    layout = layouts.get(keys, False)
    if layout is False:
        layout = _flat_layout(keys)
        if len(layouts) < 1000:  # psets of a run share a few sets of keys
            layouts[keys] = layout
    if layout is None:
        return None
    texts = []
    for key in layout[1]:
        val = pset[key]
        cls = val.__class__
        if cls is int:
            texts.append(int.__repr__(val))
        elif cls is str:
            texts.append(_encode_str(val))
        elif cls is float and val - val == 0:  # not NaN, not infinite
            texts.append(float.__repr__(val))
        elif val is None or cls is bool:
            texts.append(_CONST_TEXT[val])
        else:
            return None
    return layout[0] % tuple(texts)


_encode_str = json.encoder.encode_basestring_ascii


def pset_hashes(params: list[dict]) -> list[str | float]:
    """Return ``pset_hash(pset, raise_error=False)`` for each pset, faster."""
    enc: Any = False  # the JSON encoder of psets with nested values, made when needed
    sha1 = hashlib.sha1
    layouts: dict = {}
    out: list[str | float] = []
    for pset in params:
        text = _flat_text(pset, layouts)
        if text is not None:
            out.append(sha1(text.encode()).hexdigest())
            continue
        if enc is False:
            enc = _make_c_encoder()
        digest, enc = _nested_hash(pset, enc)
        out.append(digest)
    return out


_BY_NAME = "psweep-by-name-1:"


def pset_hashes_by_name(params: list[dict]) -> list[str | float]:
    """A looser identity for psets that :func:`pset_hash` cannot hash; ``nan`` where
    even this fails.

    Functions, classes and numpy ufuncs count by their importable name
    (``numpy:sin``), other objects by the digest of their pickle, as psweep 0.16
    hashes them; lambdas and functions defined inside functions have no such
    name and get ``nan``. Empty values (``None``, ``nan``, ``pd.NA``) are left
    out, as a database stores a key a pset lacked, so a row read back hashes like
    the pset that was run. ``skip_dups`` compares psets without a hash by this;
    it is never stored in a database.
    """
    out: list[str | float] = []
    for pset in params:
        kept = {
            k: v for k, v in pset.items() if not (_is_special(k) or _is_postfix(k) or is_empty(v))
        }
        try:
            text = _BY_NAME + json.dumps(_tag(kept, by_name=True), separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            out.append(np.nan)
            continue
        out.append(hashlib.sha1(text.encode()).hexdigest())
    return out


def is_empty(val: Any) -> bool:
    """Whether `val` stands for a key a pset lacks in a database: None, nan, pd.NA, NaT."""
    return val is None or val is _NA or val is pd.NaT or (isinstance(val, float) and val != val)


def _nested_hash(pset: Any, enc: Any) -> tuple[str | float, Any]:
    """``pset_hash(pset, raise_error=False)`` with the C JSON encoder `enc` where the
    pset is plain JSON; return it and the encoder to use next."""
    slow = enc is None or pset.__class__ is not dict
    if not slow:
        scalars = _PLAIN_SCALARS
        for key, val in pset.items():
            # a bookkeeping key, a key JSON would turn into a string, or a value
            # that is not a plain scalar and not plain JSON: the careful way
            if (
                key.__class__ is not str
                or key[:1] == "_"
                or key[-1:] == "_"
                or (val.__class__ not in scalars and not _plain(val))
            ):
                slow = True
                break
    if slow:
        return pset_hash(pset, raise_error=False), enc
    try:
        return hashlib.sha1("".join(enc(pset, 0)).encode()).hexdigest(), enc
    except (TypeError, ValueError, RecursionError):
        return np.nan, _make_c_encoder()  # its cycle markers may be stale now


# positions of the 32 hex digits in the 36 characters of a UUID's text (the others are "-")
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuid4_strings(n: int) -> list[str]:
    """Return `n` random (version 4) UUIDs as strings, made in one go.

    The same as ``str(uuid.uuid4())`` `n` times, several times faster: the text
    of all of them is made as one array of characters.
    """
    if n <= 0:
        return []
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS[0::2]] = _HEX_DIGITS[raw >> 4]
    text[:, _UUID_DIGITS[1::2]] = _HEX_DIGITS[raw & 0x0F]
    chars = text.tobytes().decode("ascii")
    return [chars[i : i + 36] for i in range(0, 36 * n, 36)]


def get_many_uuids(num: int, retry: int = 10, existing: Iterable[str] = ()) -> list[str]:
    """`num` distinct random UUIDs (strings), none of them in `existing`.

    Draws again at most `retry` times when a draw collides (which practically
    never happens); then raises :class:`~psweep.errors.PsweepError`.
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise PsweepParamsError(f"get_many_uuids(): num must be a whole number >= 0, got {num!r}")
    taken = set(existing)
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(retry + 1):
        for value in uuid4_strings(num - len(out)):
            if value not in taken and value not in seen:
                seen.add(value)
                out.append(value)
        if len(out) == num:
            return out
    raise PsweepError(f"get_many_uuids(): no {num} new UUIDs after {retry} retries")


def get_uuid(retry: int = 10, existing: Iterable[str] = ()) -> str:
    """One random UUID (a string) that is not in `existing`."""
    return get_many_uuids(1, retry=retry, existing=existing)[0]
