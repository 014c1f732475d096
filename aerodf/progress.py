"""Progress bars for long calls: tqdm when it is installed and the caller wants one.

By default a bar shows only on an interactive terminal and never under CI, so
logs and notebooks run non-interactively stay clean; ``progress=True`` forces
one, ``progress=False`` silences it.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def want_progress(progress: bool | None) -> bool:
    """Whether to show a bar: the caller's choice, else only on an interactive terminal."""
    if progress is not None:
        return bool(progress)
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress_bar(total: int, enabled: bool, desc: str = "read_batch") -> Any:
    """A tqdm bar (``total=0``: unknown total), or None when off or tqdm is missing."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total or None, unit="rec", desc=desc)
