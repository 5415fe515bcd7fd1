"""The one exception tree."""

from __future__ import annotations

import inspect

import pytest

from jupyter_assistant import exceptions as ex


def test_every_exception_is_an_assistant_error_with_a_code_and_docstring() -> None:
    for name in ex.__all__:
        cls = getattr(ex, name)
        assert issubclass(cls, ex.AssistantError), name
        assert inspect.getdoc(cls), name
        assert cls.code and cls.code.replace("_", "").isalpha(), name
    codes = [getattr(ex, n).code for n in ex.__all__]
    assert len(codes) == len(set(codes)), "codes must be unique"


def test_tree_shape() -> None:
    assert issubclass(ex.PathOutsideRootError, ex.ToolError)
    assert issubclass(ex.NotFoundError, ex.StoreError)
    for name in ("TraceFormatError", "ModelError", "ToolError", "StoreError",
                 "RateLimitError"):
        assert getattr(ex, name).__bases__ == (ex.AssistantError,), name
    # bad input and bad settings are also ValueErrors, as Python's own checks are
    for name in ("ConfigError", "InputError"):
        assert getattr(ex, name).__bases__ == (ex.AssistantError, ValueError), name


def test_trace_format_error_names_file_position_problem() -> None:
    err = ex.TraceFormatError("run.json", "traceEvents[42]", "dur is negative (-3)")
    assert str(err) == "run.json at traceEvents[42]: dur is negative (-3)"
    assert (err.source, err.position, err.problem) == ("run.json", "traceEvents[42]",
                                                       "dur is negative (-3)")
    assert str(ex.TraceFormatError("x.gz", None, "too big")) == "x.gz: too big"


def test_context_attributes() -> None:
    m = ex.ModelError("slow down", code="rate_limited", retryable=True, status=429,
                      retry_after=1.5, request_id="req_1")
    assert (m.code, m.retryable, m.status, m.retry_after, m.request_id) == (
        "rate_limited", True, 429, 1.5, "req_1")
    r = ex.RateLimitError("too many chats", retry_after=12.0, limit="5/minute")
    assert (r.retry_after, r.limit, r.code) == (12.0, "5/minute", "rate_limited")
    with pytest.raises(ex.AssistantError):
        raise ex.InputError("message is 10,001 characters; the limit is 10,000")
