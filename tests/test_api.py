"""The public API is exactly what the README documents."""

from __future__ import annotations

import re
from pathlib import Path

import aerodf

README = Path(__file__).resolve().parents[1] / "README.md"


def test_all_matches_readme_api_list():
    text = README.read_text()
    block = text.split("<!-- api -->")[1].split("<!-- /api -->")[0]
    documented = set(re.findall(r"`aerodf\.(\w+)`", block))
    assert documented == set(aerodf.__all__)


def test_everything_in_all_exists_and_has_a_docstring():
    for name in aerodf.__all__:
        obj = getattr(aerodf, name)
        assert obj.__doc__, name
