"""Helpers shared by the benchmarks: timing, peak memory and the report page.

Each benchmark writes one section of docs/benchmarks.md, delimited by HTML
comments, so benchmarks can run in any order and rewrite only their own
section. The page is replaced atomically (write to a temporary file, then
rename), so an interrupted run never leaves it half written.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPORT_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

_HEADER = """# Benchmarks

Tables written by the scripts under `benchmarks/`. Each section names the
command that produced it, the date and the machine. Speed is reported as a
ratio to a reference implementation timed in the same run, because absolute
times on shared machines drift.
"""


def time_call(function: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Returns the median wall time in seconds of `function()` after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_of(code: str, timeout: float = 3600.0) -> tuple[float, str]:
    """Runs Python `code` in a fresh process; returns (peak resident GiB, its stdout).

    The peak is the child's maximum resident set size (ru_maxrss), which
    includes the Python interpreter and TensorFlow runtime themselves.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child process failed:\n{result.stderr[-4000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # NOTE: RUSAGE_CHILDREN reports the maximum over all children so far, so
    # callers measure the largest configuration first or one per process.
    return max(peak_kib, before) / 2**20, result.stdout


def machine_description() -> str:
    """Returns a one-line description of the machine for report headers."""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """Formats rows as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def write_section(name: str, title: str, command: str, body: str) -> Path:
    """Replaces (or appends) the section `name` of docs/benchmarks.md atomically."""
    stamp = datetime.date.today().isoformat()
    section = (
        f"<!-- section: {name} -->\n## {title}\n\n"
        f"Command: `{command}`. Run on {stamp}, {machine_description()}.\n\n"
        f"{body.strip()}\n<!-- end: {name} -->\n"
    )

    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    text = REPORT_PATH.read_text() if REPORT_PATH.exists() else _HEADER
    pattern = re.compile(
        rf"<!-- section: {re.escape(name)} -->.*?<!-- end: {re.escape(name)} -->\n",
        re.DOTALL,
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section

    handle, temporary = tempfile.mkstemp(dir=REPORT_PATH.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, REPORT_PATH)
    return REPORT_PATH
