"""Session-wide test settings shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_trace_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep ``load_trace``'s Parquet cache out of the user's cache folder and off by
    default (``JUPYTER_ASSISTANT_TRACE_CACHE=0``): tests that want it pass ``cache=True``
    and get a fresh session folder."""
    saved = {k: os.environ.get(k) for k in ("JUPYTER_ASSISTANT_CACHE_DIR",
                                            "JUPYTER_ASSISTANT_TRACE_CACHE")}
    os.environ["JUPYTER_ASSISTANT_CACHE_DIR"] = str(tmp_path_factory.mktemp("trace-cache"))
    os.environ["JUPYTER_ASSISTANT_TRACE_CACHE"] = "0"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
