"""The diff widget of ``%assistant fix``: a proposed cell edit with Accept / Reject.

An anywidget, because it needs a custom view: the unified diff coloured line by line, and an
Accept that puts the new code in the notebook. Accept inserts a code cell below the one that
shows the diff, through the notebook model JupyterLab's widget manager holds (JupyterLab and
Notebook 7); where that is not reachable it sends ``accept`` to the kernel, which calls
``set_next_input`` (the new cell then appears with the reply of the next execution). Nothing
runs either way: the user runs the new cell, or not. The display also carries the diff as
``text/markdown`` for static exports.
"""

from __future__ import annotations

import difflib
from typing import Any

import anywidget
import traitlets
from IPython.display import display

__all__ = ["DiffView", "unified_diff"]

_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

_ESM = r"""
function findCellIndex(cells, anchor) {
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    const outputs = cell.outputs;
    if (!outputs) continue;
    for (let j = 0; j < outputs.length; j++) {
      const data = outputs.get(j).data || {};
      const view = data["application/vnd.jupyter.widget-view+json"];
      if (view && view.model_id === anchor) return i;
    }
  }
  return -1;
}

function insertBelow(model, code) {
  try {
    const context = model.widget_manager && model.widget_manager.context;
    const notebook = context && context.model;
    if (!notebook || !notebook.sharedModel || !notebook.cells) return false;
    const index = findCellIndex(notebook.cells, model.get("anchor"));
    if (index < 0) return false;
    notebook.sharedModel.insertCell(index + 1, { cell_type: "code", source: code });
    return true;
  } catch (e) {
    return false;
  }
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "jupyter-assistant-diff";
  const pre = document.createElement("pre");
  pre.style.cssText = "margin:0;padding:4px;border:1px solid var(--jp-border-color2);" +
    "font-family:var(--jp-code-font-family);font-size:var(--jp-code-font-size);overflow:auto";
  for (const line of model.get("diff").split("\n")) {
    const span = document.createElement("div");
    span.textContent = line;
    // a translucent tint of the theme's success/error colour keeps the theme's text colour
    // readable in light and dark themes (as the sidebar's diff); rgba where color-mix is not
    // supported (the browser ignores the second assignment)
    if (line.startsWith("+") && !line.startsWith("+++")) {
      span.style.background = "rgba(46, 160, 67, 0.22)";
      span.style.background = "color-mix(in srgb, var(--jp-success-color1) 22%, transparent)";
    } else if (line.startsWith("-") && !line.startsWith("---")) {
      span.style.background = "rgba(248, 81, 73, 0.22)";
      span.style.background = "color-mix(in srgb, var(--jp-error-color1) 22%, transparent)";
    }
    else if (line.startsWith("@@")) span.style.color = "var(--jp-brand-color1)";
    pre.appendChild(span);
  }
  const bar = document.createElement("div");
  bar.style.cssText = "margin-top:4px;display:flex;gap:8px;align-items:center";
  const accept = document.createElement("button");
  accept.className = "jp-Button jp-mod-styled jp-mod-accept";
  accept.textContent = "Accept";
  const reject = document.createElement("button");
  reject.className = "jp-Button jp-mod-styled jp-mod-reject";
  reject.textContent = "Reject";
  const status = document.createElement("span");
  const sync = () => {
    const decision = model.get("decision");
    accept.disabled = reject.disabled = decision !== "";
    status.textContent = decision === "accepted" ? (model.get("inserted") ?
      "Accepted: the corrected cell is below (not run)." :
      "Accepted: the corrected cell appears below with the next run.") :
      decision === "rejected" ? "Rejected." : "";
  };
  accept.addEventListener("click", () => {
    const inserted = insertBelow(model, model.get("new"));
    model.set("inserted", inserted);
    model.set("decision", "accepted");
    model.save_changes();
    model.send({ event: "accept", inserted });
  });
  reject.addEventListener("click", () => {
    model.set("decision", "rejected");
    model.save_changes();
    model.send({ event: "reject" });
  });
  model.on("change:decision", sync);
  sync();
  bar.append(accept, reject, status);
  root.append(pre, bar);
  el.appendChild(root);
}
export default { render };
"""


def unified_diff(old: str, new: str) -> str:
    """The unified diff (3 lines of context) from ``old`` to ``new`` cell source."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "cell (before)",
                                 "cell (proposed)", lineterm="")
    return "\n".join(lines)


class DiffView(anywidget.AnyWidget):
    """A proposed edit of a cell (see the module docstring). ``decision`` becomes
    ``"accepted"`` or ``"rejected"``; ``inserted`` says whether the front end inserted the
    cell itself."""

    _esm = _ESM
    old = traitlets.Unicode("").tag(sync=True)
    new = traitlets.Unicode("").tag(sync=True)
    diff = traitlets.Unicode("").tag(sync=True)
    decision = traitlets.Unicode("").tag(sync=True)
    inserted = traitlets.Bool(False).tag(sync=True)
    anchor = traitlets.Unicode("").tag(sync=True)

    def __init__(self, old: str, new: str, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(old=old, new=new, diff=unified_diff(old, new), **kwargs)
        self.anchor = self.model_id or ""
        self._shell = shell
        self.on_msg(self._handle)

    def _handle(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("event") == "accept":
            self.decision = "accepted"
            if not content.get("inserted") and self._shell is not None:
                self._shell.set_next_input(self.new, replace=False)
        elif content.get("event") == "reject":
            self.decision = "rejected"

    def markdown(self) -> str:
        """The diff as markdown (for static exports)."""
        return f"Proposed edit:\n\n```diff\n{self.diff}\n```"

    def show(self) -> None:
        """Display the widget, with the markdown diff as its static fallback."""
        text = self.markdown()
        display({_WIDGET_MIME: {"version_major": 2, "version_minor": 0,
                                "model_id": self.model_id},
                 "text/markdown": text, "text/plain": text}, raw=True)
