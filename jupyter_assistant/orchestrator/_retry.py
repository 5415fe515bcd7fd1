"""When and how long to wait before retrying a failed model call.

A model call is retried only when all of these hold: the provider marked the error
``retryable`` (429 rate limit, 529 overloaded, 5xx, dropped connection, stalled or incomplete
stream before any output), nothing of the call was shown to the user yet, the attempt budget
is not spent, and the wait still ends before the turn deadline. The wait honours the
provider's ``retry_after`` (from ``retry-after-ms`` / ``retry-after``), else it is exponential
backoff with jitter (``base * 2**(attempt-1)``, capped, times a random factor in
[0.75, 1.25]), the scheme of the Anthropic SDK and of AWS's "exponential backoff and jitter".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..exceptions import ModelError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget and backoff: ``max_retries`` retries after the first attempt,
    ``base_delay`` / ``max_delay`` in seconds, ``jitter`` the +- fraction of randomness."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25

    def delay(self, attempt: int, error: ModelError) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after ``error`` failed attempt
        ``attempt`` (1-based)."""
        if error.retry_after is not None:
            # what the server asked for, plus a little jitter so clients do not stampede
            return float(error.retry_after) * (1.0 + random.uniform(0.0, self.jitter / 5))
        backoff = min(self.max_delay, self.base_delay * (2.0 ** max(0, attempt - 1)))
        return max(0.0, backoff * random.uniform(1.0 - self.jitter, 1.0 + self.jitter))

    def should_retry(self, error: ModelError, *, attempt: int, output_started: bool,
                     delay: float, time_left: float) -> bool:
        """Whether to retry after ``error`` failed attempt ``attempt`` (1-based), when
        ``delay`` seconds of waiting would leave ``time_left`` seconds before the deadline."""
        return (error.retryable and not output_started and attempt <= self.max_retries
                and delay < time_left)
