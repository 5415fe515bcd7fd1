"""The input transformer that makes ``%assistant why is this slow?`` a question.

IPython reads a line ending in ``?`` as a help request (``slow?`` -> "Object `slow` not
found."). This cleanup transformer runs before IPython's own transforms and turns every
``%assistant ...`` line into an explicit ``run_line_magic`` call, so the text reaches the magic
unchanged. ``%%assistant`` cells need nothing: IPython hands their body to the magic as is.
"""

from __future__ import annotations

import re

__all__ = ["assistant_question_transformer"]

_LINE = re.compile(r"^(?P<indent>[ \t]*)%assistant(?:[ \t]+(?P<rest>.*?))?[ \t]*$")


def assistant_question_transformer(lines: list[str]) -> list[str]:
    """IPython cleanup transformer (``shell.input_transformers_cleanup``): rewrite
    ``%assistant <text>`` lines (not ``%%assistant``) into
    ``get_ipython().run_line_magic('assistant', '<text>')``."""
    out = []
    for line in lines:
        ending = "\n" if line.endswith("\n") else ""
        match = _LINE.match(line.rstrip("\n"))
        if match is None:
            out.append(line)
            continue
        rest = match.group("rest") or ""
        out.append(f"{match.group('indent')}get_ipython().run_line_magic('assistant', "
                   f"{rest!r}){ending}")
    return out
