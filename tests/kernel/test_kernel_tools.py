"""The kernel context and the kernel tools on real DataFrames in a real kernel: what the model
is told (the system prompt the peer receives) and what the tools answer (the tool_result the
peer receives)."""

from __future__ import annotations

from typing import Any

from kernel_helpers import Kernel

from jupyter_assistant.testing import AnthropicServer, Reply

SETUP = """
import numpy as np, pandas as pd
sales = pd.DataFrame({
    "region": pd.Categorical(["north", "south", None, "east"] * 250),
    "units": np.arange(1000, dtype="int32"),
    "price": [1.5, None, 2.25, 4.0] * 250,
})
weights = np.ones((64, 32), dtype="float32")
_private = pd.DataFrame({"secret": [1]})
"""


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [block for block in body["messages"][-1]["content"]
            if block.get("type") == "tool_result"]


def _text(block: dict[str, Any]) -> str:
    content = block["content"]
    return content if isinstance(content, str) else "".join(c.get("text", "") for c in content)


def test_the_model_is_told_the_variables_and_the_last_error(kernel: Kernel,
                                                            peer: AnthropicServer) -> None:
    kernel.ok(SETUP)
    kernel.execute("sales['nope']")  # a KeyError: the last error
    kernel.ok("%assistant what went wrong")
    system = peer.message_requests()[-1]["system"]
    system = system if isinstance(system, str) else "".join(b["text"] for b in system)
    assert "`sales` (pandas" in system and "DataFrame 1,000 rows × 3 columns" in system
    assert "region: category" in system and "units: int32" in system
    assert "array shape (64, 32), dtype float32" in system
    assert "_private" not in system and "`np`" not in system  # private names and modules
    assert "KeyError: 'nope'" in system
    names = {t["name"] for t in peer.message_requests()[-1]["tools"]}
    assert {"list_variables", "inspect_variable", "last_error", "hotspots"} <= names


def test_inspect_variable_describes_a_dataframe(kernel: Kernel, peer: AnthropicServer) -> None:
    kernel.ok(SETUP)
    peer.script(Reply.tool_uses([("inspect_variable", {"name": "sales", "rows": 3}),
                                 ("list_variables", {}),
                                 ("inspect_variable", {"name": "_private"}),
                                 ("inspect_variable", {"name": "sale"})]),
                Reply.text("Looked."))
    kernel.ok("%assistant look at my data")
    results = {b["tool_use_id"]: b for b in _tool_results(peer.message_requests()[-1])}
    inspect, listing, private, typo = (results[k] for k in results)
    text = _text(inspect)
    assert not inspect.get("is_error")
    assert "1,000 rows × 3 columns" in text
    assert "| region" in text and "category" in text and "int32" in text
    # nulls: a quarter of region and of price
    assert "| region   | category |     250 |        750 |" in text
    assert "| price    | float64  |     250 |        750 |" in text
    assert "describe()" in text and "mean" in text
    assert "First 3 rows" in text and "north" in text
    assert len(text) <= 8000
    assert "`sales`" in _text(listing) and "`weights`" in _text(listing)
    assert "_private" not in _text(listing)
    assert private.get("is_error") and "private" in _text(private)
    assert typo.get("is_error") and "Did you mean: sales" in _text(typo)


def test_last_error_tool(kernel: Kernel, peer: AnthropicServer) -> None:
    peer.script(Reply.tool_use("last_error", {}), Reply.text("ok"),
                Reply.tool_use("last_error", {}), Reply.text("ok"))
    kernel.ok("%assistant anything wrong")
    assert "No exception" in _text(_tool_results(peer.message_requests()[-1])[0])
    kernel.execute("def f():\n    return 1 / 0\nf()")
    kernel.ok("%assistant anything wrong now")
    text = _text(_tool_results(peer.message_requests()[-1])[0])
    assert text.startswith("ZeroDivisionError: division by zero")
    assert "return 1 / 0" in text
