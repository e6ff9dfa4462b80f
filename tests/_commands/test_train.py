"""Tests of `discrepancy train`: run folder contents, resume, and refusal to overwrite."""

import json

import numpy as np
import pytest

from discrepancy import cli

BASE = ["train", "--data", "ring", "--divergence", "wasserstein", "--batch-size", "32",
        "--num-samples", "256", "--checkpoint-every", "2", "--quiet"]


def test_train_writes_run_folder(tmp_path):
    out = tmp_path / "run"
    assert cli.main(BASE + ["--steps", "4", "--out", str(out)]) == 0

    report = json.loads((out / "report.json").read_text())
    assert report["steps_completed"] == 4
    assert report["divergence"]["name"] == "wasserstein"
    assert report["seed"] == 0
    assert report["settings"]["pack"] == 1
    assert set(report["final_metrics"]) >= {"modes_captured", "high_quality_fraction", "mode_kl"}
    assert report["energy"]["joules"] >= 0.0
    assert "is_estimate" in report["energy"]
    assert "tensorflow" in report["versions"]
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoints" / "checkpoint").exists()

    # Resume to 6 steps: the run continues from its checkpoint at step 4.
    assert cli.main(BASE + ["--steps", "6", "--out", str(out), "--resume"]) == 0
    resumed = json.loads((out / "report.json").read_text())
    assert resumed["steps_completed"] == 6
    assert resumed["energy_total_joules"] >= report["energy_total_joules"]

    # Starting again in a used folder without --resume is refused.
    assert cli.main(BASE + ["--steps", "4", "--out", str(out)]) == cli.EXIT_INVALID_INPUT


def test_train_from_file(tmp_path):
    samples = np.random.default_rng(0).normal(size=(128, 3)).astype(np.float32)
    path = tmp_path / "real.npy"
    np.save(path, samples)
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(path), "--divergence", "gan", "--steps", "2",
                     "--batch-size", "32", "--checkpoint-every", "2", "--out", str(out), "--quiet"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["final_metrics"] == {}
    assert report["settings"]["sample_shape"] == [3]


@pytest.mark.parametrize("arguments,message", [
    (["--data", "nowhere.txt"], "--data"),
    (["--divergence", "alpha"], "alpha-order"),
    (["--steps", "0"], "--steps"),
])
def test_train_rejects_bad_options(tmp_path, capsys, arguments, message):
    code = cli.main(["train", "--out", str(tmp_path / "run"), "--quiet", *arguments])
    assert code == cli.EXIT_INVALID_INPUT
    assert message in capsys.readouterr().err
