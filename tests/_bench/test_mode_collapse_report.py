"""Tests of the mode-collapse benchmark's table and figure."""

import numpy as np

from discrepancy._bench import mode_collapse_report as report


def record(method, seed, *, modes=8, high_quality=0.95, kl=0.01, fid=0.5, diverged=False, dataset="ring"):
    return {"dataset": dataset, "method": method, "seed": seed, "modes": modes, "num_modes": 8,
            "high_quality": high_quality, "kl": kl, "fid": fid, "seconds": 10.0 * (seed + 1),
            "joules": 3600.0, "energy_is_estimate": True, "diverged": diverged,
            "steps": 100, "figure_samples": [[1.0, 0.0], [0.0, 1.0]]}


def test_summary_mean_and_spread():
    rows = report.summary_rows([record("gan", 0, modes=6), record("gan", 1, modes=8),
                                record("gan", 2, modes=7, kl="inf")])
    row = dict(zip(report.SUMMARY_HEADER, rows[0]))
    assert row["runs"] == "3"
    assert row["modes captured"] == "7.0 ± 1.0 of 8"  # mean 7, sample std 1
    assert row["mode KL"] == "inf"  # one run had no high-quality sample
    assert row["time per run"] == "20 ± 10 s"
    assert row["energy per run"] == "1.000 ± 0.000 Wh (estimate)"


def test_summary_single_run_and_diverged():
    rows = report.summary_rows([record("kl", 0, diverged=True), record("kl", 1)])
    row = dict(zip(report.SUMMARY_HEADER, rows[0]))
    assert row["runs"] == "2 (1 diverged)"
    assert row["modes captured"] == "8 of 8"
    assert row["high quality"] == "95.0 %"


def test_summary_all_diverged():
    rows = report.summary_rows([record("kl", 0, diverged=True)])
    assert rows[0][3:] == ["-"] * (len(report.SUMMARY_HEADER) - 3)


def test_kl_parts_rows_stacked_digits_only():
    stacked = [dict(record("best", seed, kl=0.09 + 0.02 * seed, dataset="stacked_digits"),
                    channel_kl=0.04 + 0.02 * seed, total_correlation=0.05) for seed in range(2)]
    older = record("best", 2, dataset="stacked_digits")  # scored before the split was recorded
    rows = report.kl_parts_rows([record("gan", 0)] + stacked + [older])
    assert rows == [["best", "2", "0.100 ± 0.014", "0.050 ± 0.014", "0.050 ± 0.000"]]
    assert report.kl_parts_rows([record("gan", 0)]) == []


def test_report_body_kl_split_table():
    ring = [record("gan", 0)]
    stacked = [dict(record("wgan-gp-pack2-channel-indep", 0, dataset="stacked_digits"),
                    channel_kl=0.04, total_correlation=0.05)]
    split_header = "| method | runs | mode KL | channels' KL | dependence (total correlation) |"
    assert split_header in report.report_body(ring + stacked, note="", figure_name=None)
    assert "channels' KL" not in report.report_body(ring, note="", figure_name=None)


def test_meets_bar():
    assert report.meets_bar(record("gan", 0))
    assert not report.meets_bar(record("gan", 0, modes=7))
    assert not report.meets_bar(record("gan", 0, high_quality=0.89))
    assert not report.meets_bar(record("gan", 0, kl=0.05))
    digits = dict(record("gan", 0, dataset="stacked_digits"), modes=950, num_modes=1000, kl=0.099)
    assert report.meets_bar(digits)
    assert not report.meets_bar(dict(digits, modes=949))
    assert report.meets_bar(record("gan", 0, dataset="high_dim_ring")) is None


def test_published_rows_follow_datasets():
    rows = report.published_rows(["stacked_digits"])
    assert {row[0] for row in rows} == {"stacked_digits"}
    assert ["99 of 1000", "3.4"] == [rows[0][2], rows[0][4]]


def test_image_montage_layout():
    images = np.zeros((7, 8, 8, 3))
    montage = report._image_montage(images, columns=5)
    assert montage.shape == (2 * 9 - 1, 5 * 9 - 1, 3)
    assert montage[8, 0, 0] == 1.0  # gap row between the two rows of images
    assert montage[9, 9 * 2, 0] == 1.0  # no eighth image: blank cell


def test_figure_is_png(tmp_path):
    path = report.write_figure([record("real-data", 0), record("gan", 0), record("kl", 0, diverged=True)],
                               tmp_path / "figure.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
