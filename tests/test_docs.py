"""Runs every Python example in README.md and docs/*.md, so none can go stale.

The ```python blocks of one page run in order in one namespace, as a reader
would paste them. A block preceded by the line `<!-- not-tested -->` is
skipped (used only for examples that need files the reader supplies).
"""

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted(
    page for page in (ROOT / "docs").glob("*.md") if page.name != "benchmarks.md"
)
_BLOCK = re.compile(r"(<!-- not-tested -->\n)?```python\n(.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    """Returns the tested Python blocks of a Markdown page, in order."""
    return [code for skip, code in _BLOCK.findall(page.read_text()) if not skip]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_examples_run(page, tmp_path, monkeypatch):
    blocks = python_blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no Python examples")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for index, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {index}]", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - re-raised with the block's location
            raise AssertionError(f"{page.name} block {index} failed: {error!r}\n{code}") from error


def test_readme_has_examples():
    assert len(python_blocks(ROOT / "README.md")) >= 1
