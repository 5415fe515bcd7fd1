"""PyTorch profiler (Kineto) traces: every HTA test trace, ranks, GPU streams, correlation."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from chrome_checks import DATA, check_table, raw_events

from jupyter_assistant import Trace, load_trace

HTA = Path(__file__).resolve().parents[3] / "shared" / "traces" / "hta"
KINETO = sorted(str(p.relative_to(HTA)) for p in HTA.rglob("*.json*")
                if "_et." not in p.name and "memory_timeline" not in p.name)
DEVICE = {"kernel", "gpu_memcpy", "gpu_memset", "gpu_user_annotation", "Kernel", "Memcpy",
          "Memset", "mtia_ccp_events"}
NS = "hta/ns_resolution_trace/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"


def _text(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _count(text: bytes, key: str, value: str) -> int:
    """How many times ``"key": "value"`` occurs in the raw JSON (an independent count)."""
    return len(re.findall(rb'"%s":\s*"%s"' % (key.encode(), re.escape(value.encode())), text))


def test_every_hta_trace_is_listed() -> None:
    assert len(KINETO) == 26


@pytest.mark.parametrize("rel", KINETO)
def test_every_hta_trace_loads_completely(load_shared: Callable[[str], Trace], rel: str) -> None:
    trace = load_shared(f"hta/{rel}")
    check_table(trace)
    assert trace.format == "kineto"
    text = _text(HTA / rel)
    # Kineto writes only complete (X) events; count them and the categories in the raw text
    assert len(trace.events) == _count(text, "ph", "X")
    cats = trace.events["cat"].astype(str).value_counts()
    for cat in ("cpu_op", "kernel", "cuda_runtime", "gpu_memcpy", "user_annotation"):
        assert cats.get(cat, 0) == _count(text, "cat", cat)
    assert len(trace.flows) == _count(text, "ph", "s") + _count(text, "ph", "f")
    assert trace.metadata["repaired"] == 0
    m = re.search(rb'"distributedInfo":\s*\{[^{}]*?"rank":\s*(\d+)', text)
    rank = int(m.group(1)) if m else None
    assert trace.metadata["rank"] == rank
    assert trace.ranks == [rank if rank is not None else 0]
    assert (trace.events["rank"] == (rank or 0)).all()
    # device rows: pid = device, tid = stream, kind "gpu"; host rows have stream -1
    ev = trace.events
    dev = ev["cat"].isin(DEVICE).to_numpy()
    gpu = trace.threads[trace.threads["kind"] == "gpu"]
    assert set(zip(ev.loc[dev, "pid"], ev.loc[dev, "tid"], strict=True)) <= set(
        zip(gpu["pid"], gpu["tid"], strict=True))
    host = ~ev["pid"].isin(gpu["pid"]).to_numpy()
    assert (ev.loc[host, "stream"] == -1).all()


def test_event_count_matches_a_plain_json_parse(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(NS)
    raw = raw_events(HTA.parent / NS)
    assert trace.metadata["event_count"] == len(raw)
    xs = [e for e in raw if e.get("ph") == "X"]
    assert Counter(trace.events["name"].astype(str)) == Counter(e["name"] for e in xs)


def test_columns_come_from_args(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(NS)
    ev = trace.events
    args = ev["args"]
    kern = ev["cat"] == "kernel"
    assert (ev.loc[kern, "stream"] == args[kern].map(lambda a: a["stream"])).all()
    assert (ev.loc[kern, "correlation"] == args[kern].map(lambda a: a["correlation"])).all()
    ops = ev["cat"] == "cpu_op"
    assert (ev.loc[ops, "external_id"] == args[ops].map(lambda a: a["External id"])).all()
    no_corr = args.map(lambda a: a is None or "correlation" not in a)
    assert (ev.loc[no_corr, "correlation"] == -1).all()
    for col in ("correlation", "external_id", "stream", "rank"):
        assert ev[col].dtype == np.int64


def test_file_order_is_the_position_in_the_file(load_shared: Callable[[str], Trace]) -> None:
    # HTA's idle time breakdown lists streams in file order; the slice table is sorted
    ev = load_shared(NS).events
    xs = [e for e in raw_events(HTA.parent / NS) if e.get("ph") == "X"]
    assert ev["file_order"].dtype == np.int32
    in_file = ev.sort_values("file_order")
    assert in_file["file_order"].tolist() == list(range(len(xs)))
    assert in_file["name"].astype(str).tolist() == [e["name"] for e in xs]
    assert in_file["ts"].tolist() == [e["ts"] for e in xs]


def test_float_timestamps_keep_their_fraction(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(NS)
    raw = sorted(e["ts"] for e in raw_events(HTA.parent / NS) if e.get("ph") == "X")
    assert np.array_equal(np.sort(trace.events["ts"].to_numpy()), np.array(raw))
    assert (trace.events["ts"] % 1 != 0).any()
    assert trace.metadata["display_time_unit"] == "ns"  # kept, but ts stays in µs


def test_kernel_launch_correlation_and_ac2g_flows(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared(NS)
    ev = trace.events
    gpu_ops = ev[ev["cat"].isin(["kernel", "gpu_memcpy", "gpu_memset"])]
    launches = ev[ev["cat"].isin(["cuda_runtime", "cuda_driver"]) & (ev["correlation"] >= 0)]
    # every kernel/memcpy/memset has exactly one launch with its correlation id
    per_id = launches["correlation"].value_counts()
    assert gpu_ops["correlation"].isin(per_id.index).all()
    assert (per_id[gpu_ops["correlation"]] == 1).all()
    assert set(launches.loc[launches["correlation"].isin(gpu_ops["correlation"]), "name"]) >= {
        "cudaLaunchKernel"}
    # ac2g flows bind the launch ("s") and the GPU op ("f", bp "e") with that correlation
    raw = [e for e in raw_events(HTA.parent / NS) if e.get("cat") == "ac2g"]
    fl = trace.flows[trace.flows["cat"] == "ac2g"]
    assert len(fl) == len(raw)
    corr = ev["correlation"].to_numpy()
    assert (fl["slice"] >= 0).all()
    assert (corr[fl["slice"]] == fl["id"].astype(int)).all()
    assert set(ev.loc[fl.loc[fl["ph"] == "s", "slice"], "cat"]) == {"cuda_runtime"}
    on_device = fl["ph"].eq("f").to_numpy() & fl["pid"].eq(0).to_numpy()
    assert set(ev.loc[fl.loc[on_device, "slice"], "cat"]) == {"kernel", "gpu_memcpy",
                                                              "gpu_memset"}
    # Kineto also writes host-side "f" flows (cudaEventRecord, ...) with no "s": they bind
    # to the runtime call with their correlation (checked above)
    assert set(ev.loc[fl.loc[~on_device, "slice"], "cat"]) == {"cuda_runtime"}


def test_folder_of_ranks_is_one_trace(load_shared: Callable[[str], Trace]) -> None:
    both = load_shared("hta/trace_filter")
    r0 = load_shared("hta/trace_filter/sampled_rank-0.json.gz")
    r1 = load_shared("hta/trace_filter/sampled_rank-1.json.gz")
    check_table(both)
    assert both.ranks == [0, 1]
    assert both.events["rank"].value_counts().to_dict() == {0: len(r0.events),
                                                            1: len(r1.events)}
    assert set(both.threads["rank"]) == {0, 1}
    assert both.metadata["profiler_steps"] == [551, 552] == r0.metadata["profiler_steps"]
    steps = {n for n in both.events["name"].astype(str) if n.startswith("ProfilerStep#")}
    assert steps == {"ProfilerStep#551", "ProfilerStep#552"}
    ev1 = both.events[both.events["rank"] == 1].reset_index(drop=True)
    assert (ev1["name"].astype(str) == r1.events["name"].astype(str)).all()


def test_headers_give_devices_and_distributed_info(load_shared: Callable[[str], Trace]) -> None:
    control = load_shared("hta/trace_diff/control/control.json.gz")
    devices = control.metadata["device_properties"]
    assert len(devices) == 8 and all("A100" in d["name"] for d in devices)
    info = control.metadata["distributed_info"]
    assert (info["rank"], info["world_size"], info["backend"]) == (3, 8, "nccl")
    missing = load_shared("hta/rank_unavailable/rank_not_found.json.gz")
    assert missing.metadata["rank"] is None and missing.ranks == [0]
    assert any("rank 0 assumed" in w for w in missing.metadata["warnings"])


def test_old_kineto_naming(load_shared: Callable[[str], Trace]) -> None:
    trace = load_shared("hta/trace_file_list/inference_rank_1.json.gz")
    ev = trace.events
    kernels = ev[ev["cat"] == "Kernel"]
    assert len(kernels) == 4 and (kernels["stream"] == 7).all()
    th = trace.threads.set_index(["pid", "tid"])
    assert th.loc[(0, 7), "kind"] == "gpu" and th.loc[(0, 7), "thread_name"] == "stream 7"
    launches = ev[(ev["cat"] == "Runtime") & (ev["name"] == "cudaLaunchKernel")]
    assert set(launches["correlation"]) == set(kernels["correlation"])
    fl = trace.flows
    assert set(fl["cat"]) == {"async_gpu"} and (fl["slice"] >= 0).all()
    corr = ev["correlation"].to_numpy()
    assert (corr[fl["slice"]] == fl["id"].astype(int)).all()
    assert (ev.loc[ev["cat"] == "Runtime", "external_id"] >= 0).all()  # "external id"


def test_mtia_and_amd_traces(load_shared: Callable[[str], Trace]) -> None:
    mtia = load_shared("hta/mtia_trace_single_rank/mtia_rank_0.json.gz")
    gpu = mtia.threads[mtia.threads["kind"] == "gpu"]
    assert set(gpu["process_name"]) == {"MTIA 9"}
    text = _text(HTA / "mtia_trace_single_rank/mtia_rank_0.json.gz")
    assert (mtia.events["cat"] == "mtia_ccp_events").sum() == _count(text, "cat",
                                                                     "mtia_ccp_events")
    assert mtia.metadata["overlapping"] > 0  # device events overlap; durations are kept
    amd = load_shared("hta/amd_trace/mi250_minitoy_train_ROCm6_2_kineto.json.gz")
    ev = amd.events
    kernels = ev[ev["cat"] == "kernel"]
    assert kernels["name"].astype(str).str.startswith("Cijk_").any()
    assert {"hipLaunchKernel", "hipMemcpyWithStream"} <= set(
        ev.loc[ev["cat"] == "cuda_runtime", "name"].astype(str))
    assert amd.threads.set_index(["pid", "tid"]).loc[(2, 0), "kind"] == "gpu"


def test_cpu_only_torch_trace_recorded_here() -> None:
    """tests/data/torch_cpu_trace.json.gz: torch.profiler on CPU (recorded for the
    hotspots tests)."""
    path = DATA / "torch_cpu_trace.json.gz"
    trace = load_trace(path)
    check_table(trace)
    assert trace.format == "kineto"
    assert (trace.threads["kind"] != "gpu").all()
    assert trace.metadata["profiler_steps"]
    raw = raw_events(path)
    assert len(trace.events) == sum(e.get("ph") == "X" for e in raw)
    ops = trace.events[trace.events["cat"] == "cpu_op"]
    assert (ops["external_id"] >= 0).all() and (ops["stream"] == -1).all()
    # one process outside torch.distributed: no distributedInfo, rank 0, and no warning
    # about it (the summary's "Anomalies" would show it on every local torch profile)
    assert b'"distributedInfo"' not in gzip.decompress(path.read_bytes())
    assert trace.metadata["rank"] is None and trace.ranks == [0]
    assert not trace.metadata.get("warnings")
