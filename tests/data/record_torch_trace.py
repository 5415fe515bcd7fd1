"""Record the PyTorch profiler trace used by tests/traces/test_hotspots.py.

Writes, next to this file:

* ``torch_cpu_trace.json.gz`` — ``torch.profiler.profile(activities=[CPU])`` of three
  training steps of a small MLP, exported with ``export_chrome_trace`` and gzipped;
* ``torch_cpu_key_averages.csv`` — the profiler's own ``key_averages()`` of the same run:
  ``key, count, self_cpu_time_total, cpu_time_total`` (µs).

Run with the CPU build of torch (``pip install -c constraints.txt -e ".[test,torch]"``)::

    python tests/data/record_torch_trace.py

The tests read the recorded files (the live comparison with ``key_averages()`` in
tests/traces/test_hotspots.py profiles again, with the ``torch`` extra that CI installs).
"""

from __future__ import annotations

import csv
import gzip
import shutil
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

HERE = Path(__file__).parent
TRACE = HERE / "torch_cpu_trace.json.gz"
KEY_AVERAGES = HERE / "torch_cpu_key_averages.csv"


def workload() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(128, 256)
    y = torch.randint(0, 10, (128,))
    return model, opt, x, y


def write_outputs(prof: profile) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(raw))
        with raw.open("rb") as src, gzip.open(TRACE, "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
    with KEY_AVERAGES.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["key", "count", "self_cpu_time_total", "cpu_time_total"])
        for avg in prof.key_averages():
            w.writerow([avg.key, avg.count, f"{avg.self_cpu_time_total:.3f}",
                        f"{avg.cpu_time_total:.3f}"])


def main() -> None:
    model, opt, x, y = workload()
    loss_fn = torch.nn.CrossEntropyLoss()
    torch.set_num_threads(1)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False,
                 schedule=schedule(wait=1, warmup=1, active=3, repeat=1),
                 on_trace_ready=write_outputs) as prof:
        for _ in range(5):
            with record_function("train_step"):
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
            prof.step()
    print(f"wrote {TRACE} ({TRACE.stat().st_size:,} bytes) and {KEY_AVERAGES}")


if __name__ == "__main__":
    main()
