"""Record the PyTorch profiler traces of a training loop whose first steps are warm-up
outliers, used by tests/traces/test_torch_steps.py.

Writes, next to this file (``export_chrome_trace`` output, gzipped):

* ``torch_warmup_trace.json.gz`` — ``torch.profiler.profile(activities=[CPU],
  schedule=schedule(wait=0, warmup=0, active=STEPS))`` of the first ``STEPS`` training
  steps of a small CNN (conv, batch norm, linear; Adam, cross-entropy) on CPU, one
  ``ProfilerStep#N`` per step, ``forward``/``backward``/``optimizer`` ``record_function``
  ranges inside each. Step 0 is the first step the process ever runs: PyTorch creates
  Adam's state lazily (``exp_avg``/``exp_avg_sq``: an ``aten::zeros_like`` per parameter
  and state, in step 0 only) and oneDNN builds its convolution primitives on first use, so
  step 0 is a warm-up outlier.
* ``torch_compile_trace.json.gz`` — the same loop on a ``torch.compile``-d model (inductor,
  CPU: needs a C++ compiler): step 0 holds the compilation (``Torch-Compiled Region``),
  which takes far longer than the compiled steps after it.

Run with the CPU build of torch (``pip install -c constraints.txt -e ".[test,torch]"``)::

    python tests/data/record_torch_warmup.py

One intra-op thread (``torch.set_num_threads(1)``) so that the step times do not depend on
the machine's core count. The tests read the recorded files; they assert facts that hold
for any recording of this script (step 0 is the longest, Adam's state appears in step 0
only), never the recorded microseconds.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

HERE = Path(__file__).parent
WARMUP_TRACE = HERE / "torch_warmup_trace.json.gz"
COMPILE_TRACE = HERE / "torch_compile_trace.json.gz"
STEPS = 6


def workload() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small CNN on 16 images of 3×32×32, 10 classes."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10),
    )
    x = torch.randn(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    return model, x, y


def record(path: Path, model: Any, x: torch.Tensor, y: torch.Tensor,
           params: Any) -> None:
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def write(prof: profile) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "trace.json"
            prof.export_chrome_trace(str(raw))
            with raw.open("rb") as src, gzip.open(path, "wb", compresslevel=9) as dst:
                shutil.copyfileobj(src, dst)

    with profile(activities=[ProfilerActivity.CPU], record_shapes=False,
                 schedule=schedule(wait=0, warmup=0, active=STEPS, repeat=1),
                 on_trace_ready=write) as prof:
        for _ in range(STEPS):
            with record_function("forward"):
                loss = loss_fn(model(x), y)
            with record_function("backward"):
                opt.zero_grad(set_to_none=True)
                loss.backward()
            with record_function("optimizer"):
                opt.step()
            prof.step()
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


def main() -> None:
    torch.set_num_threads(1)
    model, x, y = workload()
    record(WARMUP_TRACE, model, x, y, model.parameters())
    model, x, y = workload()
    record(COMPILE_TRACE, torch.compile(model), x, y, model.parameters())


if __name__ == "__main__":
    main()
