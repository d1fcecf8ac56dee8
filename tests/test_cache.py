"""The on-disk prelude cache (modc.cache): used when valid, ignored when not."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from modc import cache


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MODC_NO_CACHE", raising=False)
    return tmp_path / "modc"


def test_second_call_reads_what_the_first_wrote(home: Path) -> None:
    calls: list[int] = []

    def build() -> dict:
        calls.append(1)
        return {"parsed": [1, 2, 3]}

    assert cache.cached(("text", "grammar"), build) == {"parsed": [1, 2, 3]}
    assert cache.cached(("text", "grammar"), build) == {"parsed": [1, 2, 3]}
    assert calls == [1]
    (file,) = home.iterdir()
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    # Other texts (an edited prelude or grammar) get another entry.
    assert cache.cached(("text", "grammar 2"), build) == {"parsed": [1, 2, 3]}
    assert calls == [1, 1]


def test_corrupt_or_foreign_writable_files_are_rebuilt(home: Path) -> None:
    cache.cached(("a",), lambda: "first")
    (file,) = home.iterdir()
    file.write_bytes(b"not a pickle")
    assert cache.cached(("a",), lambda: "rebuilt") == "rebuilt"
    file.write_bytes(pickle.dumps("planted"))
    os.chmod(file, 0o666)  # anybody could have written it: never unpickle it
    assert cache.cached(("a",), lambda: "safe") == "safe"


def test_cache_can_be_turned_off(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODC_NO_CACHE", "1")
    assert cache.cached(("b",), lambda: 7) == 7
    assert not home.exists()


def test_unwritable_cache_folder_still_builds(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where a folder should be
    assert cache.cached(("c",), lambda: [4]) == [4]
