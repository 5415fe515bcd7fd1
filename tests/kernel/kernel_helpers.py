"""A real IPython kernel (ipykernel through jupyter_client) driven the way JupyterLab drives
it: execute requests, iopub outputs (with display updates applied), widget comm state, and
interrupts."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@dataclass
class Execution:
    """What one execute request produced: ``outputs`` (nbformat-like dicts, display
    updates applied), the shell ``reply`` content, and the wall time in seconds."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    displays: dict[str, int] = field(default_factory=dict)
    foreign_updates: list[dict[str, Any]] = field(default_factory=list)
    closed_comms: list[str] = field(default_factory=list)

    def data(self, mime: str) -> list[Any]:
        return [o["data"][mime] for o in self.outputs if mime in o.get("data", {})]

    def markdown(self) -> str:
        return "\n".join(self.data("text/markdown"))

    def text(self) -> str:
        return "".join(o.get("text", "") for o in self.outputs if o["output_type"] == "stream")

    def errors(self) -> list[dict[str, Any]]:
        return [o for o in self.outputs if o["output_type"] == "error"]


class Kernel:
    """A started kernel; ``widgets`` maps widget model ids to their synced state."""

    def __init__(self, km: KernelManager) -> None:
        self.km = km
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.widgets: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def _track_comm(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "comm_open":
            self.widgets[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif msg["msg_type"] == "comm_msg":
            data = content.get("data", {})
            if data.get("method") in ("update", "echo_update"):
                self.widgets.setdefault(content["comm_id"], {}).update(data.get("state", {}))

    def start(self, code: str) -> str:
        """Send an execute request without waiting; returns its msg id."""
        return str(self.kc.execute(code))

    def collect(self, msg_id: str, timeout: float = 60.0, *, until: Any = None,
                result: Execution | None = None) -> Execution:
        """Read iopub until the request ``msg_id`` is idle (or ``until(execution)`` is true,
        then return early); then its reply. Pass the ``result`` of an early return to go on
        collecting into it."""
        result = result if result is not None else Execution()
        started = time.monotonic()
        by_display = result.displays
        while True:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise TimeoutError(f"no idle after {timeout} s; outputs: {result.outputs}")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if until is not None and until(result):
                    return result
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("comm_open", "comm_msg"):
                self._track_comm(msg)
            if kind == "comm_close":
                result.closed_comms.append(content["comm_id"])
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "stream":
                result.outputs.append({"output_type": "stream", "name": content["name"],
                                       "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                out = {"output_type": kind, "data": content["data"]}
                display_id = content.get("transient", {}).get("display_id")
                if display_id:
                    by_display[display_id] = len(result.outputs)
                result.outputs.append(out)
            elif kind == "update_display_data":
                display_id = content.get("transient", {}).get("display_id")
                if display_id in by_display:
                    result.outputs[by_display[display_id]]["data"] = content["data"]
                else:  # a display of an earlier cell
                    result.foreign_updates.append(content)
            elif kind == "error":
                result.outputs.append({"output_type": "error", "ename": content["ename"],
                                       "evalue": content["evalue"]})
            if until is not None and until(result):
                return result
        reply = self.kc.get_shell_msg(timeout=max(5.0, timeout - (time.monotonic() - started)))
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=5.0)
        result.reply = reply["content"]
        result.seconds = time.monotonic() - started
        return result

    def execute(self, code: str, timeout: float = 60.0) -> Execution:
        """Run ``code`` and wait for it."""
        return self.collect(self.start(code), timeout)

    def ok(self, code: str, timeout: float = 60.0) -> Execution:
        """Run ``code`` and assert it succeeded."""
        result = self.execute(code, timeout)
        assert result.reply.get("status") == "ok", (result.reply, result.outputs)
        return result

    def widget_of(self, model_id: str) -> dict[str, Any]:
        return self.widgets[model_id]

    def children(self, model_id: str) -> list[dict[str, Any]]:
        refs = self.widgets[model_id].get("children", [])
        return [self.widgets[r.removeprefix("IPY_MODEL_")] for r in refs]

    def descendants(self, model_id: str) -> list[dict[str, Any]]:
        out = []
        for child_ref in self.widgets[model_id].get("children", []):
            cid = child_ref.removeprefix("IPY_MODEL_")
            out.append(self.widgets[cid])
            out.extend(self.descendants(cid))
        return out


def start_kernel(env: dict[str, str], cwd: str) -> Kernel:
    """A python3 kernel of this interpreter, with ``env`` and ``cwd``."""
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=cwd)
    return Kernel(km)
