"""Price table of Claude models, for the cost estimate of every model call.

Prices are USD per million tokens (MTok): ``input`` (base input tokens), ``output``,
``cache_read`` ("cache hits and refreshes") and ``cache_write`` (5-minute cache writes, the
default ``cache_control`` TTL; 1-hour writes cost more and are not modelled).

Source: Anthropic's pricing page https://platform.claude.com/docs/en/about-claude/pricing
and the model pages under https://platform.claude.com/docs/en/models/ (for example
``models/sonnet-5-5/overview``), read 2026-11-22. The cut of Claude Sonnet 5.5 cache reads
from $0.20 to $0.10 per MTok (0.05x input) on 2026-10-07 is taken from pricing-page
refresh notes of that date; Claude Haiku 5.5 is billed in two bands by prompt length and the
table holds the band for prompts up to 100,000 tokens. Claude Fable 5.2 and Mythos 5.2
(released 2026-11-09, after that reading; model ids as in ``anthropic.types.ModelParam`` of
anthropic 2.17) are at the prices two secondary sources give as Anthropic's list price,
checked 2026-12-04: the release notes of ``phuryn/claude-usage`` v1.5.7 ("from
platform.claude.com, checked 2026-12-01") and LaoZhang API's announcement of 2026-11-10:
$8 input, $40 output, $0.20 cache reads, $10 5-minute cache writes (1.25x input).
Estimates, not invoices: Batch API discounts, long-context and fast-mode surcharges and
1-hour cache writes are not applied.
"""

from __future__ import annotations

import re

from .providers import ModelPrice

__all__ = ["PRICES", "PRICES_SOURCE", "price_for"]

#: Where :data:`PRICES` comes from, and when it was read.
PRICES_SOURCE = ("https://platform.claude.com/docs/en/about-claude/pricing (read 2026-11-22; "
                 "Fable/Mythos 5.2 from secondary sources, checked 2026-12-04)")

#: model id -> price, USD per million tokens.
PRICES: dict[str, ModelPrice] = {
    # current models
    "claude-fable-5-2": ModelPrice(input=8.0, output=40.0, cache_read=0.20, cache_write=10.0),
    "claude-mythos-5-2": ModelPrice(input=8.0, output=40.0, cache_read=0.20, cache_write=10.0),
    "claude-opus-5-5": ModelPrice(input=4.0, output=20.0, cache_read=0.20, cache_write=5.0),
    "claude-sonnet-5-5": ModelPrice(input=2.0, output=10.0, cache_read=0.10, cache_write=2.50),
    "claude-haiku-5-5": ModelPrice(input=0.10, output=0.50, cache_read=0.01, cache_write=0.125),
    # previous generation
    "claude-fable-5-1": ModelPrice(input=10.0, output=50.0, cache_read=0.25, cache_write=12.50),
    "claude-mythos-5-1": ModelPrice(input=10.0, output=50.0, cache_read=0.25, cache_write=12.50),
    # legacy models still served
    "claude-fable-5": ModelPrice(input=10.0, output=50.0, cache_read=1.0, cache_write=12.50),
    "claude-mythos-5": ModelPrice(input=10.0, output=50.0, cache_read=1.0, cache_write=12.50),
    "claude-opus-5": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-sonnet-5": ModelPrice(input=2.0, output=10.0, cache_read=0.20, cache_write=2.50),
    "claude-opus-4-8": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-7": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-6": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-5": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0, cache_read=0.10, cache_write=1.25),
}

_SNAPSHOT = re.compile(r"-(\d{8})$")


def price_for(model: str) -> ModelPrice | None:
    """Price of ``model`` (a model id, a dated snapshot such as
    ``claude-haiku-4-5-20251001``, or ``anthropic:<id>``), or ``None`` when unknown."""
    model = model.split(":", 1)[1] if model.startswith("anthropic:") else model
    model = model.removesuffix("[1m]")
    if model in PRICES:
        return PRICES[model]
    return PRICES.get(_SNAPSHOT.sub("", model))
