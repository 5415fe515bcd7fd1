"""Web search: a pluggable backend and the ``web_search`` tool built on it.

A backend is anything with ``async search(query, n) -> list[SearchResult]``
(:class:`WebSearchBackend`). One HTTP backend ships: :class:`BraveSearchBackend`, for the Brave
Search API (``GET {base_url}/web/search?q=..&count=..`` with the ``X-Subscription-Token``
header; results from ``web.results[].title/url/description``, see
https://api-dashboard.search.brave.com/app/documentation/web-search/get-started). It uses
``httpx2`` (already required by the ``anthropic`` and ``openai`` SDKs) with a 10 s timeout.

Without a backend the tool is not offered to the model at all:
:func:`~jupyter_assistant.tools.default_tools` adds it only when given a backend, and
:func:`web_search_backend_from_env` returns one only when ``BRAVE_SEARCH_API_KEY`` is set
(``BRAVE_SEARCH_BASE_URL`` overrides the endpoint, e.g. for a proxy or a test server).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from typing import Any, Protocol, TypedDict, runtime_checkable

import httpx2

from ..exceptions import ConfigError, ToolError
from ._base import Tool, tool

__all__ = ["BraveSearchBackend", "SearchResult", "WebSearchBackend", "web_search_backend_from_env",
           "web_search_tool"]

#: Timeout of one search, seconds (DESIGN.md: web search 10 s).
WEB_SEARCH_TIMEOUT = 10.0
#: Most results one search returns.
MAX_RESULTS = 10
_TAG = re.compile(r"<[^>]+>")


class SearchResult(TypedDict):
    """One search hit: ``title``, ``url`` and a plain-text ``snippet``."""

    title: str
    url: str
    snippet: str


@runtime_checkable
class WebSearchBackend(Protocol):
    """A web search engine. ``search`` returns at most ``n`` results, best first, and raises
    :class:`~jupyter_assistant.exceptions.ToolError` when the search fails."""

    async def search(self, query: str, n: int) -> list[SearchResult]: ...


def _plain(text: Any) -> str:
    return html.unescape(_TAG.sub("", str(text or ""))).strip()


class BraveSearchBackend:
    """The Brave Search web API (``X-Subscription-Token: <api_key>``).

    ``base_url`` defaults to ``https://api.search.brave.com/res/v1``; ``timeout`` is seconds.
    Raises :class:`ConfigError` for an empty key; ``search`` raises :class:`ToolError` for an
    HTTP error (naming the status), a timeout or an unreadable response.
    """

    name = "brave"

    def __init__(self, api_key: str, *, base_url: str = "https://api.search.brave.com/res/v1",
                 timeout: float = WEB_SEARCH_TIMEOUT) -> None:
        if not api_key:
            raise ConfigError("BraveSearchBackend needs an API key (BRAVE_SEARCH_API_KEY)")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the key
        return f"BraveSearchBackend(base_url={self.base_url!r})"

    async def search(self, query: str, n: int = 5) -> list[SearchResult]:
        count = max(1, min(int(n), MAX_RESULTS))
        headers = {"Accept": "application/json", "X-Subscription-Token": self._api_key}
        try:
            async with httpx2.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(f"{self.base_url}/web/search",
                                            params={"q": query, "count": count},
                                            headers=headers)
        except httpx2.TimeoutException:
            raise ToolError(f"web search timed out after {self.timeout:g} s") from None
        except httpx2.HTTPError as exc:
            raise ToolError(f"web search failed: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            hint = {401: " (check BRAVE_SEARCH_API_KEY)", 403: " (check BRAVE_SEARCH_API_KEY)",
                    429: " (rate limited; try again later)"}.get(response.status_code, "")
            raise ToolError(f"web search failed: HTTP {response.status_code}{hint}")
        try:
            results = response.json().get("web", {}).get("results", [])
        except (ValueError, AttributeError):
            raise ToolError("web search failed: the response is not the expected JSON") from None
        return [SearchResult(title=_plain(r.get("title")), url=str(r.get("url", "")),
                             snippet=_plain(r.get("description")))
                for r in results[:count] if isinstance(r, dict)]


def web_search_backend_from_env(environ: Mapping[str, str] | None = None
                                ) -> WebSearchBackend | None:
    """A :class:`BraveSearchBackend` when ``BRAVE_SEARCH_API_KEY`` is set (endpoint from
    ``BRAVE_SEARCH_BASE_URL`` when set), else ``None``."""
    env = os.environ if environ is None else environ
    key = env.get("BRAVE_SEARCH_API_KEY", "")
    if not key:
        return None
    base = env.get("BRAVE_SEARCH_BASE_URL") or "https://api.search.brave.com/res/v1"
    return BraveSearchBackend(key, base_url=base)


def web_search_tool(backend: WebSearchBackend) -> Tool:
    """The ``web_search`` tool over ``backend`` (timeout 10 s, category ``web``)."""
    if not isinstance(backend, WebSearchBackend):
        raise ConfigError(f"{backend!r} is not a WebSearchBackend (needs async search(query, n))")

    @tool(name="web_search", timeout=WEB_SEARCH_TIMEOUT, category="web")
    async def web_search(query: str, n: int = 5) -> str:
        """Search the web; returns the top results as a numbered markdown list of title,
        URL and snippet. Use it for documentation, error messages and known issues.

        Args:
            query: What to search for.
            n: Number of results (1-10).
        """
        if not str(query).strip():
            raise ToolError("web_search needs a non-empty query")
        results = await backend.search(str(query), max(1, min(int(n), MAX_RESULTS)))
        if not results:
            return f"No results for {query!r}."
        lines = [f"Results for {query!r}:"]
        for i, r in enumerate(results, 1):
            lines.append(f"{i}. [{r['title'] or r['url']}]({r['url']})")
            if r["snippet"]:
                lines.append(f"   {r['snippet']}")
        return "\n".join(lines)

    return web_search
