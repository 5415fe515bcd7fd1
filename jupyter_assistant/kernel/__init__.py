"""The kernel side: ``%assistant`` / ``%%assistant`` magics, the chat, trace, diff and
dashboard widgets, the kernel context and the kernel tools.

Load it with ``%load_ext jupyter_assistant`` (or ``c.InteractiveShellApp.extensions =
["jupyter_assistant"]``). This package imports IPython; the rest of the package never does.
"""

from __future__ import annotations

import atexit
from typing import Any

from ._magics import AssistantMagics

__all__ = ["AssistantMagics", "load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, tuple[AssistantMagics, Any]] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and the ``%assistant ...?`` input transformer on ``ipython``,
    and warm the first turn in the background. Loading twice does nothing more."""
    if id(ipython) in _loaded:
        return
    from ._transform import assistant_question_transformer
    from ._warm import warm_up

    magics = AssistantMagics(shell=ipython)
    ipython.register_magics(magics)
    ipython.input_transformers_cleanup.insert(0, assistant_question_transformer)
    _loaded[id(ipython)] = (magics, assistant_question_transformer)
    atexit.register(magics.close)
    warm_up(then=magics.prepare)


def unload_ipython_extension(ipython: Any) -> None:
    """Undo :func:`load_ipython_extension`: remove the transformer and the magics, close the
    assistant thread and the store."""
    found = _loaded.pop(id(ipython), None)
    if found is None:
        return
    magics, transformer = found
    if transformer in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(transformer)
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("assistant", None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    atexit.unregister(magics.close)
    magics.close()
