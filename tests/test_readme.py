"""Every ```python block of the README runs as written, in order, as one session.

The README's first block reads the cluster's seeds from ``AERODF_HOSTS``
(falling back to ``127.0.0.1:3000``); here that is the ``aerospike_server``
fixture's cluster (the test server, or ``AERODF_TEST_HOSTS``). Blocks with a
top-level ``await`` (as in a notebook) run in an event loop.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, source)`` of each ```python block."""
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return out


def test_the_readme_has_its_python_blocks():
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 9
    assert "AERODF_HOSTS" in blocks[0][1]  # the setup convention comes first


@pytest.mark.timeout(300)
def test_every_readme_python_block_runs_as_written(aerospike_server, client, monkeypatch):
    monkeypatch.setenv("AERODF_HOSTS", ",".join(f"{h}:{p}" for h, p in aerospike_server.hosts))
    session: dict = {"__name__": "readme"}
    out = io.StringIO()
    try:
        for line, source in python_blocks(README.read_text()):
            code = compile(source, f"README.md, block at line {line}", "exec",
                           flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            with contextlib.redirect_stdout(out):
                if code.co_flags & inspect.CO_COROUTINE:
                    asyncio.run(eval(code, session))
                else:
                    exec(code, session)
        # what the blocks claim: the write block wrote its three users, the reads ran over them
        assert session["report"].written == 3 and session["report"].ok
        assert session["df"].height == 3 and session["df"]["clicks"].null_count() == 3  # the wire block's bins
        assert session["features"].shape == (3,)  # the async block: one row per user
        assert "age" in out.getvalue()  # explain() printed the pushed predicate
        assert "requests" in out.getvalue()  # the test server block printed its statistics
    finally:
        for k in (1, 2, 3):  # the README's users
            with contextlib.suppress(Exception):
                client.remove(("test", "users", k))
        for value in session.values():
            if type(value).__name__ == "Client" and type(value).__module__ == "aerodf.client":
                value.close()
