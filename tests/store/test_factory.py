"""``open_store(url)`` picks the backend; the store package keeps its layering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_assistant.store as store_pkg
from jupyter_assistant.exceptions import ConfigError
from jupyter_assistant.store import (
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
    open_store,
)


def test_memory_urls() -> None:
    for url in (None, "", "memory://"):
        assert isinstance(open_store(url), MemoryStore)


def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    default = open_store("sqlite://")
    assert isinstance(default, SQLiteStore)
    assert default.path == tmp_path / "jupyter_assistant" / "assistant.db"
    absolute = open_store(f"sqlite://{tmp_path}/x.db")
    assert isinstance(absolute, SQLiteStore) and absolute.path == tmp_path / "x.db"
    four = open_store(f"sqlite:///{tmp_path}/x.db")  # as the server spells it
    assert isinstance(four, SQLiteStore) and four.path == tmp_path / "x.db"
    plain = open_store(str(tmp_path / "y.db"))
    assert isinstance(plain, SQLiteStore) and plain.path == tmp_path / "y.db"
    with pytest.raises(ConfigError):
        open_store("sqlite://relative.db")


def test_redis_urls() -> None:
    s = open_store("redis://127.0.0.1:6390/2", session_ttl=60)
    assert isinstance(s, RedisStore)
    assert (s.url, s.prefix, s.session_ttl) == ("redis://127.0.0.1:6390/2",
                                                "jupyter_assistant:", 60)
    s = open_store("rediss://h:1/0?key_prefix=hub1:&ssl_cert_reqs=none")
    assert isinstance(s, RedisStore)
    assert (s.url, s.prefix) == ("rediss://h:1/0?ssl_cert_reqs=none", "hub1:")


def test_unknown_scheme() -> None:
    with pytest.raises(ConfigError):
        open_store("postgres://localhost/db")


def test_every_backend_satisfies_the_protocol() -> None:
    for s in (MemoryStore(), SQLiteStore(":memory:"), RedisStore()):
        assert isinstance(s, Store)


def test_all_is_sorted_and_complete() -> None:
    assert store_pkg.__all__ == sorted(store_pkg.__all__, key=lambda n: (n.upper() != n, n))
    for name in store_pkg.__all__:
        assert getattr(store_pkg, name) is not None


def test_store_layer_imports_no_server_or_kernel_code() -> None:
    code = ("import sys, jupyter_assistant.store as s; s.RedisStore; s.RateLimiter; "
            "bad = [m for m in ('tornado', 'jupyter_server', 'IPython', 'ipywidgets') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
