"""An on-disk cache of the parsed prelude, so that a fresh ``modc lint`` does not re-parse it.

Parsing the prelude is most of the work of linting a small file in a fresh process. The
parsed AST is pickled into a private folder (``$XDG_CACHE_HOME/modc`` or ``~/.cache/modc``,
mode 0700), keyed by the sha256 of the prelude, the grammar and modc's version. A cache file
is only read when it belongs to the current user and nobody else can write it; any problem
(missing, unreadable, stale, corrupt) falls back to parsing. ``MODC_NO_CACHE=1`` turns the
cache off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import stat
from collections.abc import Callable
from pathlib import Path

from modc import __version__
from modc.fileio import write_atomic

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modc"


def cached(texts: tuple[str, ...], build: Callable[[], object]) -> object:
    """``build()``, or its result pickled earlier for the same ``texts`` and modc version."""
    if os.environ.get("MODC_NO_CACHE") == "1":
        return build()
    digest = hashlib.sha256("\0".join((__version__, *texts)).encode("utf-8")).hexdigest()
    path = cache_dir() / f"prelude-{digest[:32]}.pickle"
    value = _load(path)
    if value is not None:
        return value
    value = build()
    _store(path, value)
    return value


def _load(path: Path) -> object | None:
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a corrupt or foreign file: parse instead
        log.debug("ignoring the cache file %s: %s", path, exc)
        return None


def _store(path: Path, value: object) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(str(path), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.chmod(path, 0o600)
    except Exception as exc:  # an unwritable home: the cache is only an optimization
        log.debug("cannot write the cache file %s: %s", path, exc)
