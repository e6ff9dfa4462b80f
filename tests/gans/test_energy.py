"""Tests of the energy meter: RAPL counters (a fake powercap tree) and the CPU-time estimate."""

from pathlib import Path

import pytest

from discrepancy.gans import _energy


def make_package(root: Path, name: str, energy: int, wrap: int = 10**9) -> Path:
    package = root / name
    package.mkdir(parents=True)
    (package / "energy_uj").write_text(f"{energy}\n")
    (package / "max_energy_range_uj").write_text(f"{wrap}\n")
    return package


def test_rapl_difference_in_joules(tmp_path):
    first = make_package(tmp_path, "intel-rapl:0", 1_000_000)
    second = make_package(tmp_path, "intel-rapl:1", 5_000_000)
    make_package(tmp_path, "intel-rapl:0:0", 0)  # a sub-domain, inside package 0

    meter = _energy.EnergyMeter(powercap_root=str(tmp_path))
    meter.start()
    (first / "energy_uj").write_text("3500000\n")
    (second / "energy_uj").write_text("6000000\n")
    (tmp_path / "intel-rapl:0:0" / "energy_uj").write_text("999000000\n")
    result = meter.stop()

    assert result["sources"][0] == "rapl"
    assert not result["is_estimate"]
    # 2.5 J + 1 J from the two packages; the sub-domain is not added.
    assert result["joules"] == pytest.approx(3.5, abs=1e-9) or "nvml" in result["sources"]
    assert result["watt_hours"] == pytest.approx(result["joules"] / 3600.0)


def test_rapl_counter_wraps(tmp_path):
    package = make_package(tmp_path, "intel-rapl:0", 900, wrap=1000)
    meter = _energy.EnergyMeter(powercap_root=str(tmp_path))
    meter.start()
    (package / "energy_uj").write_text("100\n")
    result = meter.stop()
    # 900 -> 1000 (wrap) -> 100: 200 microjoules.
    assert result["joules"] == pytest.approx(2e-4, abs=1e-12) or "nvml" in result["sources"]


def test_estimate_without_counters(tmp_path):
    meter = _energy.EnergyMeter(powercap_root=str(tmp_path), watts_per_core=12.0)
    meter.start()
    total = sum(i * i for i in range(300_000))  # some CPU time
    result = meter.stop()

    assert total > 0
    assert result["is_estimate"]
    assert "cpu-time-estimate" in result["sources"]
    assert result["watts_per_core"] == 12.0
    assert result["cpu_seconds"] >= 0.0
    if "nvml" not in result["sources"]:
        assert result["joules"] == pytest.approx(12.0 * result["cpu_seconds"])


def test_stop_before_start():
    with pytest.raises(RuntimeError, match="start"):
        _energy.EnergyMeter().stop()
