"""Shared fixtures of the test suite (keep this file small)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modc.pipeline import Result, compile_source


def _compile_text(text: str, path: str = "net.mod", **kwargs) -> Result:
    return compile_source(path, text=text, **kwargs)


@pytest.fixture
def compile_text():
    """``compile_text(text, path="net.mod", overrides=None, net=None) -> Result``."""
    return _compile_text


@pytest.fixture
def write_files(tmp_path: Path):
    """``write_files({"a.mod": "text" or b"bytes", ...})`` writes under tmp_path; returns it."""

    def write(files: dict[str, str | bytes]) -> Path:
        for name, content in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return tmp_path

    return write
