"""Tests for the `discrepancy` command line: the `estimate` subcommand and exit statuses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from discrepancy import cli
from discrepancy._commands.estimate import example_samples
from discrepancy.divergences import estimate

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture
def sample_files(tmp_path):
    """Writes x (real) and y (generated) as .npy files and returns (x, y, x path, y path)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = rng.normal(size=(25, 2)) + 0.5
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return x, y, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


def run_json(arguments, capsys):
    status = cli.main(["estimate", *arguments, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def assert_same_estimate(payload, expected):
    assert payload["divergence"] == expected.divergence
    assert payload["method"] == expected.method
    np.testing.assert_allclose(payload["value"], expected.value, rtol=1e-12)
    np.testing.assert_allclose(payload["standard_error"], expected.standard_error, rtol=1e-12)
    assert payload["num_x"] == expected.num_x
    assert payload["num_y"] == expected.num_y


# --- successful runs -------------------------------------------------------------------


def test_cli_npy_text(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    status = cli.main(["estimate", x_path, y_path])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.out.startswith("mmd2 = ")
    assert f"{estimate(x, y, seed=0).value:.6g}" in captured.out
    assert "n=30, m=25" in captured.out
    # Progress goes to stderr, so stdout stays machine-readable.
    assert "computing mmd2" in captured.err


def test_cli_json_matches_estimate(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    payload = run_json([x_path, y_path], capsys)
    assert_same_estimate(payload, estimate(x, y, seed=0))
    assert payload["confidence_level"] == 0.95
    assert len(payload["confidence_interval"]) == 2


def test_cli_npz_keys(tmp_path, sample_files, capsys):
    x, y, _, _ = sample_files
    np.savez(tmp_path / "both.npz", real=x, fake=y)
    archive = tmp_path / "both.npz"
    payload = run_json([f"{archive}:real", f"{archive}:fake", "--divergence", "energy"], capsys)
    assert_same_estimate(payload, estimate(x, y, "energy", seed=0))


def test_cli_npz_ambiguous(tmp_path, sample_files, capsys):
    x, y, _, y_path = sample_files
    np.savez(tmp_path / "both.npz", real=x, fake=y)
    status = cli.main(["estimate", str(tmp_path / "both.npz"), y_path])
    captured = capsys.readouterr()
    assert status == cli.EXIT_INVALID_INPUT
    assert "holds 2 arrays (real, fake); name one as" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("header", [False, True])
def test_cli_csv(tmp_path, sample_files, capsys, header):
    x, y, _, _ = sample_files
    options = {"header": "first,second", "comments": ""} if header else {}
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", fmt="%.17g", **options)
    np.savetxt(tmp_path / "y.csv", y, delimiter=",", fmt="%.17g", **options)
    payload = run_json([str(tmp_path / "x.csv"), str(tmp_path / "y.csv")], capsys)
    # 17 significant digits write float64 values exactly.
    assert_same_estimate(payload, estimate(x, y, seed=0))


def test_cli_several_divergences(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    payload = run_json([x_path, y_path, "--divergence", "mmd2, energy"], capsys)
    assert isinstance(payload, list)
    assert [item["divergence"] for item in payload] == ["mmd2", "energy"]
    assert_same_estimate(payload[0], estimate(x, y, "mmd2", seed=0))
    assert_same_estimate(payload[1], estimate(x, y, "energy", seed=0))


def test_cli_several_divergences_text(sample_files, capsys):
    _, _, x_path, y_path = sample_files
    assert cli.main(["estimate", x_path, y_path, "--divergence", "mmd2,energy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("mmd2 = ")
    assert lines[1].startswith("energy = ")


def test_cli_estimator_options(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    arguments = [x_path, y_path, "--kernel", "laplacian", "--bandwidth", "0.5,2", "--tile-size", "16",
                 "--method", "biased", "--confidence-level", "0.9"]
    payload = run_json(arguments, capsys)
    expected = estimate(x, y, "mmd2", method="biased", kernel="laplacian", bandwidth=[0.5, 2.0],
                        tile_size=16, confidence_level=0.9)
    assert_same_estimate(payload, expected)
    assert payload["confidence_level"] == 0.9
    assert payload["diagnostics"]["bandwidth"] == [0.5, 2.0]


def test_cli_options_reach_their_divergence(sample_files, capsys):
    # --exponent applies to energy only and --kernel to mmd2 only.
    x, y, x_path, y_path = sample_files
    payload = run_json([x_path, y_path, "--divergence", "mmd2,energy", "--exponent", "0.5", "--kernel", "laplacian"], capsys)
    assert_same_estimate(payload[0], estimate(x, y, "mmd2", kernel="laplacian"))
    assert_same_estimate(payload[1], estimate(x, y, "energy", exponent=0.5))


def test_cli_extra_option(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    payload = run_json([x_path, y_path, "--kernel", "polynomial", "--option", "degree=2"], capsys)
    assert_same_estimate(payload, estimate(x, y, kernel="polynomial", degree=2))


def test_cli_built_in_example(capsys):
    payload = run_json(["--divergence", "energy"], capsys)
    real, generated, _ = example_samples()
    assert payload["num_x"] == 1000
    assert payload["num_y"] == 1000
    np.testing.assert_allclose(payload["value"], estimate(real, generated, "energy").value, rtol=1e-12)
    # Two of eight modes are missing, which the estimate resolves (6 standard errors).
    assert payload["value"] > 4.0 * payload["standard_error"]


def test_cli_built_in_example_fixed():
    first, second = example_samples(), example_samples()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


# --- invalid input: exit status 3 ------------------------------------------------------


def assert_invalid(arguments, capsys, message):
    status = cli.main(["estimate", *arguments])
    captured = capsys.readouterr()
    assert status == cli.EXIT_INVALID_INPUT
    assert message in captured.err
    assert captured.out == ""


def test_cli_missing_file(tmp_path, sample_files, capsys):
    _, _, _, y_path = sample_files
    assert_invalid([str(tmp_path / "absent.npy"), y_path], capsys, "X: file not found:")


def test_cli_pickled_object_array(tmp_path, sample_files, capsys):
    _, _, x_path, _ = sample_files
    np.save(tmp_path / "objects.npy", np.array([np.zeros(2), "text"], dtype=object), allow_pickle=True)
    assert_invalid([x_path, str(tmp_path / "objects.npy")], capsys, "could not be read without unpickling")


def test_cli_nan_input(tmp_path, sample_files, capsys):
    x, _, _, y_path = sample_files
    x = x.copy()
    x[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    nan_path = str(tmp_path / "nan.npy")
    assert_invalid([nan_path, y_path], capsys, "`x` contains 1 non-finite value(s) (NaN or inf); the first is nan at row 3, column 1")
    # The message names the files that `x` and `y` came from.
    assert_invalid([nan_path, y_path], capsys, f"(x is the samples of {nan_path}, y those of {y_path})")


def test_cli_unknown_divergence(sample_files, capsys):
    _, _, x_path, y_path = sample_files
    assert_invalid([x_path, y_path, "--divergence", "mmd3"], capsys, "`divergence` must be one of 'mmd2'")


@pytest.mark.parametrize("names", ["", " , "])
def test_cli_empty_divergence(sample_files, capsys, names):
    _, _, x_path, y_path = sample_files
    assert_invalid([x_path, y_path, "--divergence", names, "--json"], capsys, "names no divergence")


def test_cli_unknown_option(sample_files, capsys):
    _, _, x_path, y_path = sample_files
    assert_invalid([x_path, y_path, "--option", "bandwith=2"], capsys, "Unknown option(s) for divergence='mmd2': bandwith")


def test_cli_option_without_value(sample_files, capsys):
    _, _, x_path, y_path = sample_files
    assert_invalid([x_path, y_path, "--option", "degree"], capsys, "--option expects KEY=VALUE")


def test_cli_one_file_only(sample_files, capsys):
    _, _, x_path, _ = sample_files
    assert_invalid([x_path], capsys, "pass both sample files X and Y")


def test_cli_mismatched_features(tmp_path, sample_files, capsys):
    x, _, _, y_path = sample_files
    np.save(tmp_path / "narrow.npy", x[:, :1])
    assert_invalid([str(tmp_path / "narrow.npy"), y_path], capsys, "must have the same number of features")


def test_cli_truncated_archive(tmp_path, sample_files, capsys):
    _, _, _, y_path = sample_files
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04" + bytes(20))
    assert_invalid([str(tmp_path / "cut.npz"), y_path], capsys, "could not be read")


# --- usage errors: exit status 2 ----------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["no-such-command"],
        ["estimate", "--no-such-flag"],
        ["estimate", "--bandwidth", "wide"],
        ["estimate", "--tile-size", "8.5"],
        ["estimate", "a.npy", "b.npy", "c.npy"],
    ],
    ids=["no-command", "unknown-command", "unknown-flag", "bad-bandwidth", "bad-tile-size", "three-files"],
)
def test_cli_usage_error(arguments, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(arguments)
    assert raised.value.code == cli.EXIT_USAGE
    assert "usage: discrepancy" in capsys.readouterr().err


def test_cli_bandwidth_message(capsys):
    with pytest.raises(SystemExit):
        cli.main(["estimate", "--bandwidth", "0.5,wide"])
    assert "invalid bandwidth '0.5,wide'; pass a number" in capsys.readouterr().err


def test_cli_module_help():
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    completed = subprocess.run(
        [sys.executable, "-m", "discrepancy", "estimate", "--help"],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        env=environment,
        timeout=120,
    )
    assert completed.returncode == 0
    assert "usage: discrepancy estimate" in completed.stdout
    assert "--divergence" in completed.stdout
    assert "--json" in completed.stdout


def test_cli_method_per_divergence(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    payload = run_json([x_path, y_path, "--divergence", "mmd2:biased,energy:unbiased"], capsys)
    assert_same_estimate(payload[0], estimate(x, y, "mmd2", method="biased"))
    assert_same_estimate(payload[1], estimate(x, y, "energy", method="unbiased"))


def test_cli_rejects_empty_method(sample_files, capsys):
    _, _, x_path, y_path = sample_files
    status = cli.main(["estimate", x_path, y_path, "--divergence", "mmd2:"])
    assert status == 3
    assert "NAME:METHOD" in capsys.readouterr().err


def test_cli_alias_keeps_options(sample_files, capsys):
    x, y, x_path, y_path = sample_files
    payload = run_json([x_path, y_path, "--divergence", "mmd", "--kernel", "laplacian"], capsys)
    assert_same_estimate(payload, estimate(x, y, "mmd2", kernel="laplacian"))
