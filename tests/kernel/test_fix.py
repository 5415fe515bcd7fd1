"""``%assistant fix`` in a real kernel: the failing cell and the exception reach the model,
the proposed cell is shown as a diff widget, and Accept (a real comm message, as the front end
sends it) puts the code in the notebook through ``set_next_input`` without running it."""

from __future__ import annotations

from kernel_helpers import WIDGET_MIME, Kernel

from jupyter_assistant.testing import AnthropicServer, Reply

BROKEN = "data = [1, 2, 3]\nmean = sum(data) / len(dat)"
FIXED = "data = [1, 2, 3]\nmean = sum(data) / len(data)"


def test_fix_proposes_a_diff_and_accept_inserts_without_running(
        kernel: Kernel, peer: AnthropicServer) -> None:
    failed = kernel.execute(BROKEN)
    assert failed.reply["ename"] == "NameError"
    peer.script(Reply.text(f"`dat` is a typo for `data`.\n\n```python\n{FIXED}\n```"))
    result = kernel.ok("%assistant fix")
    request = peer.message_requests()[-1]
    question = request["messages"][-1]["content"][0]["text"]
    assert BROKEN in question  # the failing cell
    system = request["system"] if isinstance(request["system"], str) else "".join(
        b["text"] for b in request["system"])
    assert "NameError: name 'dat' is not defined" in system
    markdown = result.markdown()
    assert "-mean = sum(data) / len(dat)" in markdown
    assert "+mean = sum(data) / len(data)" in markdown
    (diff_out,) = [o for o in result.outputs if "```diff" in o.get("data", {}).get(
        "text/markdown", "") and WIDGET_MIME in o["data"]]
    model_id = diff_out["data"][WIDGET_MIME]["model_id"]
    state = kernel.widgets[model_id]
    assert state["new"] == FIXED and state["old"] == BROKEN and state["decision"] == ""
    assert kernel.ok("print('mean' in globals())").text() == "False\n"
    # the front end's Accept click (no notebook model reachable: the kernel inserts)
    msg = kernel.kc.session.msg("comm_msg", {"comm_id": model_id, "data": {
        "method": "custom", "content": {"event": "accept", "inserted": False}}})
    kernel.kc.shell_channel.send(msg)
    nxt = kernel.ok("1")
    payloads = nxt.reply["payload"]
    assert payloads == [{"source": "set_next_input", "text": FIXED, "replace": False}]
    assert kernel.widgets[model_id]["decision"] == "accepted"
    assert kernel.ok("print('mean' in globals())").text() == "False\n"  # nothing ran


def test_fix_without_an_error_says_so(kernel: Kernel, peer: AnthropicServer) -> None:
    result = kernel.ok("%assistant fix")
    assert "No exception to fix" in result.markdown()
    assert peer.message_requests() == []
