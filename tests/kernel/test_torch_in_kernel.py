"""PyTorch in a real kernel: ``%%assistant profile --profiler torch`` on a real training loop
(torch.profiler's Kineto trace loaded, shown, analysed and given to the model), and the
kernel context on real tensors and modules. Needs the ``torch`` extra (CI installs it; the
``torch`` fixture fails, never skips, without it)."""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

from kernel_helpers import Kernel

from jupyter_assistant.testing import AnthropicServer, Reply

#: a small real workload: a tiny MLP trained for three steps (each a ``record_function``
#: range "train_step"), then a plain matmul
TRAIN = """\
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
for _ in range(3):
    with torch.profiler.record_function("train_step"):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
a = torch.randn(256, 256)
prod = a @ a
"""

#: the kinds of the diagnosis that need GPU activity (or several ranks)
GPU_KINDS = {"input_bound", "host_sync", "launch_overhead", "host_to_device_copy",
             "gpu_compute_bound", "communication_bound", "host_bound"}


def _system(body: dict[str, Any]) -> str:
    system = body["system"]
    return system if isinstance(system, str) else "".join(b["text"] for b in system)


def test_torch_profile_of_a_training_loop(kernel: Kernel, peer: AnthropicServer,
                                          torch: ModuleType) -> None:
    result = kernel.ok("%%assistant profile --profiler torch --as tp\n" + TRAIN, timeout=180)
    shown = result.markdown()
    assert "**Trace `tp`**" in shown and "format **kineto**" in shown
    assert "%%assistant profile (torch)" in shown
    assert "| aten::mm |" in shown and "| aten::addmm |" in shown
    assert "loader warning" not in shown and not re.search(r"\b(nan|inf)\b", shown, re.I)
    assert len(result.data("image/png")) == 2   # timeline and icicle graph
    assert "Traceback" not in result.text()
    # the cell ran as usual: its variables are the user's
    out = kernel.ok("print(type(tp).__name__, tp.format, tuple(prod.shape), "
                    "loss.requires_grad, model[0].weight.grad is not None)").text()
    assert out == "Trace kineto (256, 256) True True\n"
    facts = json.loads(kernel.ok("""\
import json
hs = tp.hotspots(None).set_index("name")
d = tp.diagnose()
print(json.dumps({
    "names": hs.index.tolist(), "mm": int(hs.loc["aten::mm", "count"]),
    "addmm": int(hs.loc["aten::addmm", "count"]), "step": int(hs.loc["train_step", "count"]),
    "pct": float(hs["self_pct"].sum()), "kinds": d["kind"].tolist(),
    "shares": d["share"].tolist(), "threads": tp.threads["kind"].tolist(),
    "steps": len(tp.step_breakdown()), "warnings": tp.metadata.get("warnings", []),
}))""").text())
    # 3 steps × 2 Linear layers forward (addmm); backward: 3 × (2 weight grads + 1 input
    # grad) mm, plus the matmul
    assert facts["addmm"] == 6 and facts["mm"] == 3 * 3 + 1 and facts["step"] == 3
    assert {"aten::relu", "aten::threshold_backward", "Optimizer.step#SGD.step"} <= set(
        facts["names"])
    assert abs(facts["pct"] - 100.0) < 1e-6
    assert "gpu" not in facts["threads"] and facts["warnings"] == []
    assert facts["steps"] == 0   # no schedule, no ProfilerStep#N: an empty table, no error
    assert not set(facts["kinds"]) & GPU_KINDS
    assert all(0 <= s <= 1 for s in facts["shares"])

    # the model gets the trace: its summary in the system prompt, the tools on it
    peer.script(Reply.tool_use("hotspots", {"trace": "current", "n": 5}),
                Reply.text("The matmuls."))
    asked = kernel.ok("%assistant --trace tp what is hot?")
    assert "The matmuls." in asked.markdown()
    first, second = peer.message_requests()[-2:]
    system = _system(first)
    assert "current trace" in system and "%%assistant profile (torch)" in system
    assert "aten::mm" in system
    (block,) = [b for b in second["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert not block.get("is_error") and "aten::mm" in json.dumps(block["content"])


def test_torch_profile_with_ask_and_without_torch_ops(kernel: Kernel, peer: AnthropicServer,
                                                      torch: ModuleType) -> None:
    peer.script(Reply.text("Mostly mm."))
    asked = kernel.ok("%%assistant profile --profiler torch --ask why?\n"
                      "import torch\nw = torch.randn(128, 128)\nfor _ in range(5):\n"
                      "    w = torch.tanh(w @ w)\n", timeout=180)
    assert "Mostly mm." in asked.markdown()
    system = _system(peer.message_requests()[-1])
    assert "%%assistant profile (torch)" in system and "aten::tanh" in system
    # a cell that runs no torch op: an almost empty profile, said plainly, no error
    plain = kernel.ok("%%assistant profile --profiler torch --as py\ntotal = sum(range(10_000))")
    assert "recorded no PyTorch operator" in plain.markdown()
    assert "--profiler cprofile" in plain.markdown()
    assert kernel.ok("print(total, len(py.hotspots()), len(py.diagnose()))").text() == \
        "49995000 0 0\n"


def test_the_model_is_told_about_tensors_and_modules(kernel: Kernel, peer: AnthropicServer,
                                                     torch: ModuleType) -> None:
    kernel.ok("import torch\ntorch.manual_seed(0)\n"
              "model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), "
              "torch.nn.Linear(128, 10))\n"
              "batch = torch.randn(4096, 64)\nlabels = torch.randint(0, 10, (4096,))\n"
              "huge = torch.zeros(1).expand(100_000_000)\n", timeout=120)
    peer.script(Reply.tool_uses([("inspect_variable", {"name": "batch"}),
                                 ("inspect_variable", {"name": "model"})]),
                Reply.text("Looked."))
    kernel.ok("%assistant what are my tensors")
    first, second = peer.message_requests()[-2:]
    system = _system(first)
    assert ("- `model` (torch.nn.modules.container.Sequential): module Sequential, "
            "3 submodules, 9,610 parameters (float32) on cpu, training mode") in system
    assert ("- `batch` (torch.Tensor): tensor shape (4096, 64), dtype torch.float32, "
            "device cpu") in system
    assert "- `labels` (torch.Tensor): tensor shape (4096,), dtype torch.int64" in system
    assert "- `huge` (torch.Tensor): tensor shape (100000000,)" in system
    assert len(system) < 20_000   # no tensor data in the prompt
    results = [b for b in second["messages"][-1]["content"] if b.get("type") == "tool_result"]
    batch, model = (json.dumps(b["content"]) for b in results)
    assert not any(b.get("is_error") for b in results)
    assert "262,144 elements; min" in batch and len(batch) < 500
    assert "| 0.weight | (128, 64) | torch.float32 | cpu | True |" in model
