"""The kernel context on real PyTorch objects (the ``torch`` extra): tensors show shape,
dtype, device (layout, requires_grad) and statistics, never their data; modules their
parameters; nothing huge is printed and nothing warns."""

from __future__ import annotations

import re
import warnings
from types import ModuleType

from jupyter_assistant.kernel._variables import describe, inspect_value, kernel_context


class Shell:
    """The two attributes of an IPython shell the context reads."""

    def __init__(self, ns: dict[str, object]) -> None:
        self.user_ns = ns
        self.user_ns_hidden: dict[str, object] = {}


def test_tensors_show_shape_dtype_device_and_statistics(torch: ModuleType) -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 64)
    assert describe(x) == "tensor shape (32, 64), dtype torch.float32, device cpu"
    text = inspect_value("x", x)
    assert text.startswith("`x`: torch.Tensor")
    stats = re.search(r"2,048 elements; min (\S+), max (\S+), mean (\S+)$", text)
    assert stats, text
    assert [float(v) for v in stats.groups()] == [
        float(f"{v:.6g}") for v in (x.min().item(), x.max().item(), x.mean().item())]
    w = torch.nn.Parameter(torch.ones(3, dtype=torch.float16))
    assert describe(w) == ("tensor shape (3,), dtype torch.float16, device cpu, "
                           "requires_grad")
    assert inspect_value("w", w).endswith("3 elements; min 1, max 1, mean 1")
    assert inspect_value("s", torch.tensor(2.5)).endswith("1 element; min 2.5, max 2.5, "
                                                          "mean 2.5")
    counts = torch.arange(10, dtype=torch.int32)
    assert inspect_value("c", counts).endswith("10 elements; min 0, max 9, mean 4.5")
    mask = torch.tensor([True, False, True, True])
    assert inspect_value("m", mask).endswith("4 elements; min 0, max 1, mean 0.75")


def test_odd_tensors_are_described_without_warnings_or_errors(torch: ModuleType) -> None:
    # pytest turns warnings into errors: a complex tensor must not be cast to real
    z = torch.tensor([3 + 4j, 0 + 1j])
    assert inspect_value("z", z).endswith("2 elements; |x| min 1, max 5, mean 3")
    meta = torch.empty(4, 4, device="meta")
    assert describe(meta) == "tensor shape (4, 4), dtype torch.float32, device meta"
    assert "(no statistics: " in inspect_value("meta", meta)
    with warnings.catch_warnings():  # torch's own notes on creating these
        warnings.simplefilter("ignore")
        sparse = torch.sparse_coo_tensor([[0, 2]], [1.0, 2.0], (5,))
        nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    assert describe(sparse) == ("tensor shape (5,), dtype torch.float32, device cpu, "
                                "layout torch.sparse_coo")
    assert describe(nested).startswith("nested tensor of 2 tensors (2 dims), dtype "
                                       "torch.float32")
    assert "(no statistics: " in inspect_value("n", nested)


def test_huge_tensors_print_nothing_huge(torch: ModuleType) -> None:
    # 100 M elements in a 4-byte storage (an expanded view): statistics are skipped
    huge = torch.zeros(1).expand(100_000_000)
    text = inspect_value("huge", huge)
    assert "100,000,000 elements (statistics skipped)" in text and len(text) < 200
    # 1 M real values: statistics, no values printed
    big = torch.rand(1000, 1000)
    text = inspect_value("big", big, rows=50)
    assert len(text) < 300 and "1,000,000 elements; min" in text
    assert len(re.findall(r"\d\.\d{4}", text)) <= 3   # min, max, mean; not the data
    context = kernel_context(Shell({"huge": huge, "big": big}), max_tokens=300)
    assert len(context) <= 300 * 4
    assert "- `huge` (torch.Tensor): tensor shape (100000000,), dtype torch.float32" in context
    assert "- `big` (torch.Tensor): tensor shape (1000, 1000)" in context


def test_modules_show_their_parameters(torch: ModuleType) -> None:
    class Net(torch.nn.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU())
            self.head = torch.nn.Linear(128, 10)

    net = Net()
    assert describe(net) == ("module Net, 2 submodules, 9,610 parameters (float32) on cpu, "
                             "training mode")
    text = inspect_value("net", net.eval())
    assert "eval mode" in text
    assert "| body.0.weight | (128, 64) | torch.float32 | cpu | True |" in text
    assert "| head.bias | (10,) | torch.float32 | cpu | True |" in text
    many = torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(100)])
    listed = inspect_value("many", many)   # 40 rows at most, whole rows
    assert "| 19.bias |" in listed and "| 20.weight |" not in listed
    assert listed.endswith("(… 160 more parameters)")
    short = inspect_value("many", many, max_chars=1000)
    assert len(short) <= 1000 and re.search(r"\(… 1\d\d more parameters\)$", short)
    assert describe(many).startswith("module Sequential, 100 submodules, 600 parameters")
    with warnings.catch_warnings():  # LazyLinear says it is experimental
        warnings.simplefilter("ignore")
        lazy = torch.nn.LazyLinear(3)
    assert describe(lazy) == ("module LazyLinear, 0 submodules, 0 parameters and 2 not "
                              "initialized yet (lazy) (float32) on cpu, training mode")
    assert "| weight | (not initialized) |" in inspect_value("lazy", lazy)
    # models and tensors rank with the data, before plain values
    context = kernel_context(Shell({"lr": 0.1, "net": net, "x": torch.ones(2)}))
    lines = context.split("The user's variables:\n")[1].splitlines()
    assert [line.split("`")[1] for line in lines] == ["net", "x", "lr"]
