"""Tests of `discrepancy train`: run folder, summary, progress, rerun rules, interrupts and exit codes."""

import contextlib
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from discrepancy import cli
from discrepancy.gans import _callbacks

# Tiny runs: the ring preset (pack 2) on 256 samples, 32 per batch, 12 steps and a
# checkpoint every 4. Each run compiles a train step, which dominates its time,
# so most tests share one finished run.
BASE = ["train", "--data", "ring", "--batch-size", "32", "--num-samples", "256", "--steps", "12",
        "--checkpoint-every", "4"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def train(capsys, *arguments):
    """Runs `discrepancy train` in this process; returns (exit code, stdout, stderr)."""
    code = cli.main([*BASE, *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_report(folder):
    return json.loads((folder / "report.json").read_text())


def checkpoint_values(folder):
    """Returns every variable of the latest checkpoint in `folder`/checkpoints, by name.

    The checkpoint's save counter is left out: it counts saves, which differ
    between an interrupted and an uninterrupted run.
    """
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(folder / "checkpoints")))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 12-step run with progress on; returns (folder, stdout, stderr).

    Tests must not change the folder: copy it first.
    """
    out = tmp_path_factory.mktemp("finished") / "run"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main([*BASE, "--out", str(out)])
    assert code == cli.EXIT_OK
    return out, stdout.getvalue(), stderr.getvalue()


def test_train_writes_run_folder(finished_run):
    out, _, _ = finished_run
    report = read_report(out)
    assert report["status"] == "finished"
    assert report["steps_completed"] == 12
    assert report["divergence"]["name"] == "gan"
    assert report["seed"] == 0
    assert report["settings"]["pack"] == 2  # the ring preset
    assert report["settings"]["steps"] == 12
    assert report["settings"]["final_learning_rate"] == 1e-5
    assert set(report["final_metrics"]) == {"modes_captured", "num_modes", "high_quality_fraction", "mode_kl"}
    assert report["final_metrics"]["num_modes"] == 8
    assert report["num_evaluation_samples"] == 2500
    assert report["energy"]["joules"] >= 0.0
    assert "is_estimate" in report["energy"]
    assert report["energy_total_joules"] == report["energy"]["joules"]
    assert report["wall_seconds"] >= report["training_seconds"] > 0.0
    assert report["invocations"] == 1
    assert "tensorflow" in report["versions"]
    assert (out / "samples.png").read_bytes()[:8] == PNG_SIGNATURE
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-12")
    assert json.loads((out / "settings.json").read_text())["decay_steps"] == 12
    assert not list(out.glob("*.tmp"))


def test_summary_lists_scores_energy_time(finished_run):
    out, stdout, _ = finished_run
    report = read_report(out)
    metrics = report["final_metrics"]
    assert f"modes captured:        {metrics['modes_captured']} / 8" in stdout
    assert f"high-quality samples:  {100 * metrics['high_quality_fraction']:.1f} %" in stdout
    assert "mode-histogram KL:     " in stdout
    assert f"{report['energy_total_watt_hours']:.3f} Wh" in stdout
    if report["energy_total_is_estimate"]:
        assert "estimate from CPU time" in stdout
    assert "wall time:" in stdout
    assert f"run folder:            {out}" in stdout


def test_progress_lines_without_terminal(finished_run):
    _, _, stderr = finished_run
    assert "\r" not in stderr  # the captured stream is not a terminal: whole lines only
    assert "step 12/12  100 %" in stderr
    assert "generator_loss" in stderr
    assert "ETA" in stderr


def test_rerun_of_finished_run_prints_report(finished_run, capsys):
    out, _, _ = finished_run
    report_text = (out / "report.json").read_text()
    checkpoint = tf.train.latest_checkpoint(str(out / "checkpoints"))
    modified = os.stat(checkpoint + ".index").st_mtime_ns

    code, stdout, stderr = train(capsys, "--out", str(out))
    assert code == cli.EXIT_OK
    assert "contains a finished run of 12 steps" in stderr
    assert "step 1" not in stderr  # no training
    assert "modes captured:" in stdout
    assert (out / "report.json").read_text() == report_text
    assert os.stat(checkpoint + ".index").st_mtime_ns == modified


def test_run_saved_without_newer_options_reruns(finished_run, tmp_path, capsys):
    # A run folder written before --networks and --channel-independence-weight
    # existed was trained with their generic defaults, so it still matches.
    out = tmp_path / "older"
    shutil.copytree(finished_run[0], out)
    settings = json.loads((out / "settings.json").read_text())
    del settings["networks"], settings["channel_independence_weight"]
    (out / "settings.json").write_text(json.dumps(settings))

    code, _, stderr = train(capsys, "--out", str(out))
    assert code == cli.EXIT_OK
    assert "contains a finished run of 12 steps" in stderr


def test_mismatch_refused(finished_run, capsys):
    out, _, _ = finished_run
    code, _, stderr = train(capsys, "--pack", "4", "--out", str(out))
    assert code == cli.EXIT_INVALID_INPUT
    assert "--pack 4 (saved: 2)" in stderr
    assert "--out" in stderr
    assert "--overwrite" in stderr

    code, _, stderr = train(capsys, "--steps", "20", "--out", str(out))
    assert code == cli.EXIT_INVALID_INPUT
    assert "--steps 20 (saved: 12)" in stderr
    assert "--resume --steps 20" in stderr


def test_resume_rejects_changed_option(finished_run, capsys):
    out, _, _ = finished_run
    code, _, stderr = train(capsys, "--out", str(out), "--resume", "--divergence", "kl")
    assert code == cli.EXIT_INVALID_INPUT
    assert "--divergence kl (saved: gan)" in stderr

    code, _, stderr = train(capsys, "--out", str(out), "--resume", "--steps", "8")
    assert code == cli.EXIT_INVALID_INPUT
    assert "below the run's 12 steps" in stderr


def test_resume_steps_then_overwrite(finished_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished_run[0], out)
    first = read_report(out)

    code, _, _ = train(capsys, "--steps", "14", "--out", str(out), "--resume", "--quiet")
    assert code == cli.EXIT_OK
    resumed = read_report(out)
    assert resumed["steps_completed"] == 14
    assert resumed["invocations"] == 2
    assert resumed["energy_total_joules"] >= first["energy_total_joules"]
    assert resumed["wall_seconds_total"] > first["wall_seconds_total"]
    # The schedule keeps its first length, so steps 13 and 14 use the final rate.
    assert resumed["settings"]["decay_steps"] == 12

    code, _, stderr = train(capsys, "--steps", "2", "--out", str(out), "--overwrite", "--quiet")
    assert code == cli.EXIT_OK
    assert "step 2/2" not in stderr  # --quiet
    overwritten = read_report(out)
    assert overwritten["steps_completed"] == 2
    assert overwritten["invocations"] == 1
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-2")


@pytest.mark.parametrize("arguments,message", [
    (["--resume"], "not found"),
    (["--resume", "--overwrite"], "only one of them"),
])
def test_resume_rejects_missing_run(tmp_path, capsys, arguments, message):
    code, _, stderr = train(capsys, "--steps", "2", "--out", str(tmp_path / "run"), *arguments)
    assert code == cli.EXIT_INVALID_INPUT
    assert message in stderr


def test_file_data_in_default_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "real.npy", np.random.default_rng(0).normal(size=(128, 3)).astype(np.float32))
    code = cli.main(["train", "--data", "real.npy", "--divergence", "wasserstein", "--steps", "2",
                     "--batch-size", "32", "--quiet"])
    assert code == cli.EXIT_OK
    assert "not scored" in capsys.readouterr().out

    report = read_report(tmp_path / "runs" / "real-wasserstein")
    assert report["final_metrics"] == {}
    assert report["settings"]["sample_shape"] == [3]
    assert report["settings"]["pack"] == 1  # generic default: files have no preset


def test_nan_data_leaves_no_folder(tmp_path, capsys):
    data = np.random.default_rng(0).normal(size=(64, 2))
    data[5, 1] = np.nan
    np.save(tmp_path / "nan.npy", data)
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(tmp_path / "nan.npy"), "--steps", "2", "--out", str(out), "--quiet"])
    assert code == cli.EXIT_INVALID_INPUT
    assert "first at row 5" in capsys.readouterr().err
    assert not (out / "settings.json").exists()


def test_diverged_run_reports_and_fails(tmp_path, capsys):
    # Finite samples near the float32 maximum overflow the critic at the first step.
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=(64, 2))
    np.save(tmp_path / "huge.npy", (3e38 * signs).astype(np.float32))
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(tmp_path / "huge.npy"), "--steps", "20", "--batch-size", "32",
                     "--out", str(out), "--quiet"])
    assert code == cli.EXIT_FAILURE
    assert "diverged at generator step" in capsys.readouterr().err

    report = read_report(out)
    assert report["status"] == "diverged"
    assert report["steps_completed"] < 20


@pytest.mark.parametrize("arguments,message", [
    (["--data", "nowhere.txt"], "--data"),
    (["--divergence", "alpha"], "alpha-order"),
    (["--steps", "0"], "--steps"),
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--batch-size", "512"], "--batch-size"),
    (["--ema-decay", "1.0"], "--ema-decay"),
    (["--sample-matching-weight", "-2"], "--sample-matching-weight"),
    (["--sample-matching-weight", "nan"], "--sample-matching-weight"),
    (["--sample-matching-steps", "0"], "--sample-matching-steps"),
    (["--sample-matching-floor", "-1"], "--sample-matching-floor"),
    (["--channel-independence-weight", "-1"], "--channel-independence-weight must be a number >= 0"),
    (["--channel-independence-weight", "5"], "at least 2 channels on the last axis, got samples of shape (2,)"),
    (["--networks", "channel-critic"], "--networks channel-critic needs images"),
    pytest.param(["--tensorboard"], "tensorboard package", id="tensorboard-missing",
                 marks=pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None,
                                          reason="tensorboard is installed")),
])
def test_train_rejects_bad_options(tmp_path, capsys, arguments, message):
    code, _, stderr = train(capsys, "--out", str(tmp_path / "run"), "--quiet", *arguments)
    assert code == cli.EXIT_INVALID_INPUT
    assert message in stderr


def test_grid_preset_uses_ema_and_sample_matching(tmp_path, capsys):
    out = tmp_path / "grid"
    code = cli.main(["train", "--data", "grid", "--num-samples", "4096", "--steps", "6",
                     "--sample-matching-steps", "3", "--checkpoint-every", "3", "--out", str(out),
                     "--quiet"])
    assert code == cli.EXIT_OK
    report = read_report(out)
    settings = report["settings"]
    assert (settings["pack"], settings["batch_size"], settings["ema_decay"]) == (2, 2048, 0.999)
    assert settings["sample_matching_weight"] == 100.0
    assert settings["sample_matching_steps"] == 3
    assert settings["sample_matching_floor"] == 10.0
    assert report["final_metrics"]["num_modes"] == 25
    # The averaged generator weights are saved with the others.
    assert any("ema" in name for name in checkpoint_values(out))

    # A rerun with other matching settings is a different run.
    code = cli.main(["train", "--data", "grid", "--num-samples", "4096", "--steps", "6",
                     "--sample-matching-steps", "3", "--sample-matching-weight", "0", "--out",
                     str(out), "--quiet"])
    assert code == cli.EXIT_INVALID_INPUT
    assert "--sample-matching-weight 0.0 (saved: 100.0)" in capsys.readouterr().err


def test_help_lists_presets(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--divergence" in text
    assert "--final-learning-rate" in text
    assert "defaults by dataset" in text


# Runs the command in a child process that pauses at a given step until the test
# has sent it a signal, so the signal always arrives during training. Only the
# step is fixed: the signal comes from outside, as Ctrl-C or `kill` would send it.
_PAUSING_RUNNER = """
import sys
import time

from discrepancy import cli
from discrepancy.gans import _callbacks
from discrepancy.gans import _callbacks

pause_step = int(sys.argv[1])
save_on_schedule = _callbacks.CheckpointCallback.on_train_batch_end


def pause_at_step(self, batch, logs=None):
    save_on_schedule(self, batch, logs)
    if self.model.step == pause_step:
        print("paused", flush=True)
        deadline = time.monotonic() + 300
        while not self.model.stop_training and time.monotonic() < deadline:
            time.sleep(0.05)


_callbacks.CheckpointCallback.on_train_batch_end = pause_at_step
sys.exit(cli.main(sys.argv[2:]))
"""

def interrupt_child(arguments, pause_step, signum):
    """Runs the command in a child process, sends `signum` at `pause_step`; returns (exit code, stderr)."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-c", _PAUSING_RUNNER, str(pause_step), *arguments],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        paused = child.stdout.readline().strip()
        if paused == "paused":
            child.send_signal(signum)
        _, stderr = child.communicate(timeout=300)
    finally:
        child.kill()
        child.wait()
    assert paused == "paused", stderr
    return child.returncode, stderr


def test_signals_then_rerun_resume_exactly(tmp_path, capsys, monkeypatch, finished_run):
    out = tmp_path / "run"
    arguments = [*BASE, "--out", str(out), "--quiet"]

    # Ctrl-C at step 6: a checkpoint and an interrupted report, exit status 130.
    code, stderr = interrupt_child(arguments, 6, signal.SIGINT)
    assert code == cli.EXIT_INTERRUPTED, stderr
    assert "interrupted at step 6 of 12" in stderr
    first = read_report(out)
    assert first["status"] == "interrupted"
    assert first["steps_completed"] == 6
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-6")

    # The same command resumes at step 6. SIGTERM at step 10, sent from inside
    # this process to save a second interpreter start, raises SystemExit(143),
    # the process's exit status.
    save_on_schedule = _callbacks.CheckpointCallback.on_train_batch_end

    def terminate_at_step_10(self, batch, logs=None):
        save_on_schedule(self, batch, logs)
        if self.model.step == 10:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(_callbacks.CheckpointCallback, "on_train_batch_end", terminate_at_step_10)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(arguments)
    monkeypatch.undo()
    assert exit_info.value.code == 128 + signal.SIGTERM
    stderr = capsys.readouterr().err
    assert "resuming gan on ring at step 6 of 12" in stderr
    assert "interrupted at step 10 of 12" in stderr
    second = read_report(out)
    assert second["status"] == "interrupted"
    assert second["steps_completed"] == 10
    assert second["invocations"] == 2
    assert second["energy_total_joules"] >= first["energy_total_joules"]

    # The third run finishes where an uninterrupted run ends: same weights,
    # optimizer moments and seed state.
    assert cli.main(arguments) == cli.EXIT_OK
    assert "resuming gan on ring at step 10 of 12" in capsys.readouterr().err
    resumed = read_report(out)
    assert resumed["status"] == "finished"
    assert resumed["steps_completed"] == 12
    assert resumed["invocations"] == 3
    values, uninterrupted = checkpoint_values(out), checkpoint_values(finished_run[0])
    assert values.keys() == uninterrupted.keys()
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(values[name], value, err_msg=name)


@pytest.mark.slow
def test_default_run_captures_all_modes(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--quiet"]) == cli.EXIT_OK
    metrics = read_report(out)["final_metrics"]
    assert metrics["modes_captured"] == 8
    assert metrics["high_quality_fraction"] >= 0.9
    assert metrics["mode_kl"] < 0.05


def test_digit_metrics_on_real_and_collapsed_images():
    from discrepancy import datasets
    from discrepancy.datasets._stacked_digits import mode_probabilities
    from discrepancy.metrics import DigitsClassifier

    real = datasets.stacked_digits(26000, seed=3).samples
    scores = _callbacks.digit_metrics(real)
    assert scores["num_modes"] == 1000
    assert scores["modes_captured"] >= 990
    # Sampling noise alone gives about 999 / (2 * 26000) = 0.019 nats.
    assert scores["mode_kl"] < 0.05

    # One image repeated: a single mode, and KL = -log(target probability of that mode).
    collapsed = np.repeat(real[:1], 500, axis=0)
    label = int(DigitsClassifier().predict(collapsed[:1], value_range=(0.0, 1.0))[0])
    scores = _callbacks.digit_metrics(collapsed)
    assert scores["modes_captured"] == 1
    assert scores["mode_kl"] == pytest.approx(-np.log(mode_probabilities()[label]), rel=1e-9)
    # A single triple has independent channels: all of the KL is in the channels' shares.
    assert scores["channel_kl"] == pytest.approx(scores["mode_kl"], rel=1e-9)
    assert scores["total_correlation"] == pytest.approx(0.0, abs=1e-12)


def test_stacked_digits_run_reports_digit_scores(tmp_path, capsys):
    out = tmp_path / "digits"
    code = cli.main(["train", "--data", "stacked-digits", "--steps", "2", "--batch-size", "32",
                     "--num-samples", "256", "--out", str(out), "--quiet"])
    assert code == cli.EXIT_OK
    printed = capsys.readouterr().out
    assert "modes captured:" in printed
    assert "dependence between channels" in printed

    report = read_report(out)
    metrics = report["final_metrics"]
    assert metrics["channel_kl"] + metrics["total_correlation"] == pytest.approx(metrics["mode_kl"], rel=1e-9)
    settings = report["settings"]
    assert settings["divergence"]["name"] == "wasserstein"  # the stacked-digits preset
    assert (settings["pack"], settings["critic_steps"]) == (2, 5)
    assert settings["networks"] == "channel-critic"
    assert settings["channel_independence"]["weight"] == 100.0
    assert settings["channel_independence"]["divergence"]["bandwidth"] == [2.0, 4.0, 8.0]
    assert report["num_evaluation_samples"] == 26000
    assert report["final_metrics"]["num_modes"] == 1000
    assert 1 <= report["final_metrics"]["modes_captured"] <= 1000
    assert np.isfinite(report["final_metrics"]["mode_kl"])


@pytest.mark.parametrize("divergence, outputs", [("wasserstein", 1), ("mmd-gan", 16)])
def test_channel_critic_outputs_match_divergence(divergence, outputs):
    from discrepancy._commands import run_folder, train as train_command

    settings = {**run_folder.GENERIC_DEFAULTS, **run_folder.PRESETS["stacked-digits"],
                "divergence": divergence, "final_learning_rate": 1e-5}
    model = train_command._build_model(settings, (8, 8, 3))
    packed = np.zeros((4, 8, 8, 2 * 3), np.float32)  # pack 2 of the preset
    assert model.critic(packed).shape == (4, outputs)
