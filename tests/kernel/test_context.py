"""The kernel context stays within its token budget, whatever the namespace holds."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

from jupyter_assistant.kernel._variables import describe, inspect_value, kernel_context


class Shell:
    """The two attributes of an IPython shell the context reads."""

    def __init__(self, ns: dict[str, object]) -> None:
        self.user_ns = ns
        self.user_ns_hidden: dict[str, object] = {}


def test_many_variables_fit_the_budget_and_data_comes_first() -> None:
    ns: dict[str, object] = {f"name_{i}": "x" * 1000 for i in range(500)}
    ns["frame"] = pd.DataFrame({f"c{i}": range(3) for i in range(40)})
    ns["np"] = np
    ns["_hidden"] = 1
    text = kernel_context(Shell(ns), max_tokens=300)
    assert len(text) <= 300 * 4
    assert "`frame`" in text.split("The user's variables:")[1].splitlines()[1]
    assert "… and" in text and "call `list_variables`" in text
    assert "`np`" not in text and "_hidden" not in text


def test_the_last_error_is_cut_to_a_third(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        raise ValueError("boom " * 2000)
    except ValueError as exc:
        error = exc
    monkeypatch.setattr(sys, "last_value", error, raising=False)
    monkeypatch.setattr(sys, "last_exc", error, raising=False)
    text = kernel_context(Shell({}), max_tokens=600)
    assert "ValueError: boom" in text and len(text) <= 600 * 4


def test_values_are_not_executed() -> None:
    calls = []

    class Sneaky:
        def __repr__(self) -> str:
            calls.append("repr")
            return "sneaky"

    assert describe(Sneaky()) == ""

    class Dataset:  # a __len__ that does work (reads a file, say) is user code too
        def __len__(self) -> int:
            calls.append("len")
            return 3

        def __getattr__(self, name: str) -> object:
            calls.append(f"getattr {name}")
            raise AttributeError(name)

    assert describe(Dataset()) == ""
    assert describe(bytearray(b"abc")) == "len 3"   # a length computed in C is read
    assert "no public attributes" in inspect_value("s", Sneaky())
    assert calls == []
    module = types.ModuleType("m")
    assert "`m`" not in kernel_context(Shell({"m": module}))
