"""Energy use of a computation: measured from RAPL or NVML where readable, else estimated.

Sources, in order:
  * Intel RAPL counters under /sys/class/powercap (intel-rapl:N/energy_uj,
    one per CPU package; sub-domains such as core and uncore are inside the
    package figure and are not added again). The counters wrap around at
    max_energy_range_uj, which is handled. Reading them usually needs root.
  * NVIDIA GPUs through NVML (`pynvml`, when installed), from
    nvmlDeviceGetTotalEnergyConsumption (millijoules since the driver loaded).
  * Otherwise an estimate: the process's CPU time (user + system, children
    included) times an assumed power per busy core.

The estimate's default, 10 W per busy core, is an assumption: a server CPU's
thermal design power divided by its core count is typically 5 to 15 W (for
example 205 W over 28 cores is 7.3 W). It leaves out memory, disks, idle
power and cooling, so treat it as an order of magnitude. Every report says
which source was used and whether it is an estimate.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["EnergyMeter", "DEFAULT_WATTS_PER_CORE"]

logger = logging.getLogger("discrepancy.gans")

DEFAULT_WATTS_PER_CORE = 10.0
_POWERCAP = "/sys/class/powercap"


def _read_int(path: str) -> int | None:
    """Returns the integer in a sysfs file, or None when it is missing or unreadable."""
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _rapl_packages(root: str = _POWERCAP) -> list[str]:
    """Returns the readable top-level RAPL package directories (intel-rapl:N, no sub-domains)."""
    packages = []
    for directory in sorted(glob.glob(os.path.join(root, "intel-rapl:*"))):
        if os.path.basename(directory).count(":") != 1:
            continue
        if _read_int(os.path.join(directory, "energy_uj")) is not None:
            packages.append(directory)
    return packages


def _nvml_handles():
    """Returns (pynvml module, device handles), or (None, []) when NVML is unavailable."""
    try:
        import pynvml
    except ImportError:
        return None, []
    try:
        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        for handle in handles:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return pynvml, handles
    except Exception as error:  # pynvml raises NVMLError subclasses for every failure.
        logger.info("NVML energy counters unavailable: %s", error)
        return None, []


def _cpu_seconds() -> float:
    """Returns the CPU time (user + system) of this process and its finished children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class EnergyMeter:
    """Measures energy between `start()` and `stop()`.

    Args:
      watts_per_core: assumed power of one busy core for the estimate.
      powercap_root: directory of the RAPL counters (a parameter for tests).
    """

    def __init__(self, *, watts_per_core: float = DEFAULT_WATTS_PER_CORE, powercap_root: str = _POWERCAP):
        self.watts_per_core = float(watts_per_core)
        self.powercap_root = powercap_root
        self._start: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None

    def _snapshot(self) -> dict[str, Any]:
        packages = _rapl_packages(self.powercap_root)
        nvml, handles = _nvml_handles()
        return {
            "time": time.monotonic(),
            "cpu_seconds": _cpu_seconds(),
            "rapl": {p: _read_int(os.path.join(p, "energy_uj")) for p in packages},
            "nvml": [nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in handles] if nvml else [],
        }

    def start(self) -> None:
        """Records the counters at the start."""
        self._start = self._snapshot()

    def stop(self) -> dict[str, Any]:
        """Records the counters at the end and returns the report.

        Returns:
          A dict with joules, watt_hours, duration_seconds, cpu_seconds,
          sources (the list of "rapl", "nvml" or "cpu-time-estimate" used),
          is_estimate, and watts_per_core when the estimate was used.
        """
        if self._start is None:
            raise RuntimeError("EnergyMeter.stop() called before start().")
        end = self._snapshot()
        start = self._start

        joules = 0.0
        sources = []
        rapl_joules = self._rapl_difference(start["rapl"], end["rapl"])
        if rapl_joules is not None:
            joules += rapl_joules
            sources.append("rapl")
        if start["nvml"] and len(start["nvml"]) == len(end["nvml"]):
            joules += sum(b - a for a, b in zip(start["nvml"], end["nvml"])) / 1000.0
            sources.append("nvml")

        cpu_seconds = end["cpu_seconds"] - start["cpu_seconds"]
        is_estimate = "rapl" not in sources
        if is_estimate:
            # No CPU counter: estimate the CPU share; a GPU reading, if any, is kept.
            joules += cpu_seconds * self.watts_per_core
            sources.append("cpu-time-estimate")

        self.result = {
            "joules": joules,
            "watt_hours": joules / 3600.0,
            "duration_seconds": end["time"] - start["time"],
            "cpu_seconds": cpu_seconds,
            "sources": sources,
            "is_estimate": is_estimate,
        }
        if is_estimate:
            self.result["watts_per_core"] = self.watts_per_core
        return self.result

    def _rapl_difference(self, before: dict[str, int], after: dict[str, int]) -> float | None:
        """Returns the joules used by all packages, handling counter wrap-around."""
        if not before or before.keys() != after.keys():
            return None
        total_microjoules = 0
        for package, first in before.items():
            last = after[package]
            if last >= first:
                total_microjoules += last - first
            else:
                wrap = _read_int(os.path.join(package, "max_energy_range_uj"))
                if wrap is None:
                    return None
                total_microjoules += wrap - first + last
        return total_microjoules / 1e6
