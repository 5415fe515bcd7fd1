"""``open_store(url)``: choose a store backend from a URL (the ``store_url`` setting)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..exceptions import ConfigError
from ._base import SESSION_TTL_S, Store

__all__ = ["open_store"]


def open_store(url: str | None = None, *, session_ttl: float = SESSION_TTL_S) -> Store:
    """The store named by ``url``, constructed but **not opened** (``await store.open()``).

    - ``None``, ``""`` or ``"memory://"`` -> :class:`~jupyter_assistant.store.MemoryStore`;
    - ``"sqlite://"`` -> :class:`~jupyter_assistant.store.SQLiteStore` at the default path
      (``jupyter_data_dir()/jupyter_assistant/assistant.db``); ``"sqlite:///abs/path.db"``
      (or ``"sqlite:////abs/path.db"``) -> that absolute path; a plain file path
      (``"assistant.db"``, ``"~/a.db"``) -> SQLite at that path;
    - ``"redis://..."``, ``"rediss://..."``, ``"unix://..."`` ->
      :class:`~jupyter_assistant.store.RedisStore`; an optional ``key_prefix`` query
      parameter sets its key prefix (``redis://host:6379/0?key_prefix=hub1:``).

    ``session_ttl`` (seconds) is passed to the backend. Raises
    :class:`~jupyter_assistant.exceptions.ConfigError` for any other scheme.
    """
    if url is None or url.strip() in ("", "memory://", "memory"):
        from .memory import MemoryStore

        return MemoryStore(session_ttl=session_ttl)
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite" or not scheme:
        from .sqlite import SQLiteStore

        if not scheme:
            return SQLiteStore(Path(os.path.expanduser(url)), session_ttl=session_ttl)
        rest = url[len("sqlite://"):]
        if rest in ("", "/"):
            return SQLiteStore(None, session_ttl=session_ttl)
        if rest == "/:memory:":
            return SQLiteStore(":memory:", session_ttl=session_ttl)
        if not rest.startswith("/"):
            raise ConfigError(f"invalid sqlite URL {url!r}: use 'sqlite:///absolute/path.db' "
                              "or a plain file path")
        # "sqlite:////abs/path" (SQLAlchemy's spelling of an absolute path) is accepted too.
        return SQLiteStore(Path("/" + rest.lstrip("/")), session_ttl=session_ttl)
    if scheme in ("redis", "rediss", "unix"):
        from .redis import DEFAULT_PREFIX, RedisStore

        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = next((v for k, v in query if k == "key_prefix"), DEFAULT_PREFIX)
        rest = urlencode([(k, v) for k, v in query if k != "key_prefix"])
        return RedisStore(urlunsplit(parts._replace(query=rest)), prefix=prefix,
                          session_ttl=session_ttl)
    raise ConfigError(f"unsupported store URL {url!r}: use 'memory://', 'sqlite:///path.db' "
                      "(or a file path) or 'redis://host:port/db'")
