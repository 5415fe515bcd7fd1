"""The Stop button of the chat widget: an anywidget whose click interrupts the kernel.

While a turn runs, the cell that started it is still executing, so the kernel does not read
widget messages (a stock ``ipywidgets.Button`` click would wait until the turn is over).
The button therefore asks the Jupyter server to interrupt the kernel
(``POST /api/kernels/<kernel id>/interrupt``, the same request as JupyterLab's ■ button, with
the page's XSRF cookie and token), and the interrupt cancels the turn like any other. It also
sends a ``stop`` message, which stops the turn when the kernel does read it (a front end
without the server REST API).
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

__all__ = ["StopButton", "current_kernel_id"]

_ESM = r"""
function csrfHeaders() {
  const headers = {};
  const m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]+)/);
  if (m) headers["X-XSRFToken"] = decodeURIComponent(m[1]);
  const el = document.getElementById("jupyter-config-data");
  let cfg = {};
  try { cfg = el ? JSON.parse(el.textContent) : {}; } catch (e) { cfg = {}; }
  if (cfg.token) headers["Authorization"] = "token " + cfg.token;
  return [cfg.baseUrl || "/", headers];
}

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jp-Button jp-mod-styled jp-mod-warn jupyter-assistant-stop";
  button.title = "Stop the running turn (interrupts the kernel)";
  const sync = () => {
    const running = model.get("running");
    button.style.display = running ? "" : "none";
    button.disabled = !running || model.get("stopping");
    button.textContent = model.get("stopping") ? "Stopping…" : "Stop";
  };
  button.addEventListener("click", async () => {
    model.set("stopping", true);
    model.save_changes();
    sync();
    let interrupted = false;
    const kernelId = model.get("kernel_id");
    if (kernelId) {
      const [base, headers] = csrfHeaders();
      try {
        const url = base.replace(/\/?$/, "/") + "api/kernels/" + kernelId + "/interrupt";
        const r = await fetch(url, { method: "POST", headers, credentials: "same-origin" });
        interrupted = r.ok;
      } catch (e) { interrupted = false; }
    }
    model.send({ event: "stop", interrupted });
  });
  model.on("change:running", sync);
  model.on("change:stopping", sync);
  sync();
  el.appendChild(button);
}
export default { render };
"""


def current_kernel_id() -> str:
    """The id of this kernel as the Jupyter server knows it (from the connection file name
    ``kernel-<id>.json``), or ``""`` outside a server-managed kernel."""
    try:
        from ipykernel.connect import get_connection_file

        name = get_connection_file().rsplit("/", 1)[-1]
    except Exception:
        return ""
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-"):-len(".json")]
    return ""


class StopButton(anywidget.AnyWidget):
    """Stop button (see the module docstring). ``running`` shows it; ``stopping`` is set by
    a click; ``kernel_id`` is the kernel to interrupt."""

    _esm = _ESM
    kernel_id = traitlets.Unicode("").tag(sync=True)
    running = traitlets.Bool(True).tag(sync=True)
    stopping = traitlets.Bool(False).tag(sync=True)

    def __init__(self, on_stop: Any = None, **kwargs: Any) -> None:
        super().__init__(kernel_id=current_kernel_id(), **kwargs)
        self._on_stop = on_stop
        self.on_msg(self._handle)

    def _handle(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "stop" and self._on_stop:
            self._on_stop()
