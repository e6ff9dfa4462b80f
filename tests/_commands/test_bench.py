"""Tests of `discrepancy bench mode-collapse`: results, figure, resume and option errors.

Every run here trains for 2 steps on the ring and never writes docs/benchmarks.md
(--no-write), so the module takes well under a minute.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from discrepancy import cli
from discrepancy._bench import mode_collapse, mode_collapse_runs
from discrepancy._commands import bench

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def bench_arguments(tmp_path, *extra):
    return ["bench", "mode-collapse", "--datasets", "ring", "--methods", "gan", "--steps", "2",
            "--no-write", "--results", str(tmp_path / "results.jsonl"), *extra]


def read_records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bench_writes_results_and_figure(tmp_path, capsys):
    figure = tmp_path / "samples.png"
    assert cli.main(bench_arguments(tmp_path, "--figure", str(figure))) == 0

    records = read_records(tmp_path / "results.jsonl")
    assert [(r["dataset"], r["method"], r["seed"]) for r in records] == [
        ("ring", "real-data", 0), ("ring", "gan", 0)]
    trained = records[1]
    assert trained["steps_completed"] == 2
    assert trained["num_modes"] == 8
    assert 0 <= trained["modes"] <= 8
    assert 0.0 <= trained["high_quality"] <= 1.0
    assert trained["fid"] >= 0.0
    assert trained["seconds"] > 0.0
    assert trained["joules"] >= 0.0
    assert len(trained["figure_samples"]) == 500
    assert figure.read_bytes()[:8] == PNG_SIGNATURE

    table = capsys.readouterr().out
    assert "| ring | gan | 1 |" in table
    assert "| ring | real-data | 1 | 8 of 8 |" in table


def test_bench_resumes_after_interrupt(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results.jsonl"
    train_and_score = mode_collapse_runs.run_one
    calls = []

    def interrupt_training(run):
        # The reference needs no training, so the bench stops at its first trained run.
        calls.append(run.method.name)
        if run.method.name != mode_collapse.REFERENCE:
            raise KeyboardInterrupt
        return train_and_score(run)

    monkeypatch.setattr(mode_collapse_runs, "run_one", interrupt_training)
    assert cli.main(bench_arguments(tmp_path)) == cli.EXIT_INTERRUPTED
    assert [r["method"] for r in read_records(results)] == ["real-data"]

    # Resuming runs only the unfinished run.
    calls.clear()
    monkeypatch.setattr(mode_collapse_runs, "run_one", lambda run: calls.append(run.method.name)
                        or train_and_score(run))
    assert cli.main(bench_arguments(tmp_path)) == 0
    assert calls == ["gan"]
    assert [r["method"] for r in read_records(results)] == ["real-data", "gan"]

    # A third call finds every run finished and trains nothing.
    calls.clear()
    capsys.readouterr()
    assert cli.main(bench_arguments(tmp_path)) == 0
    assert calls == []
    assert len(read_records(results)) == 2
    assert capsys.readouterr().err.count("(from the results file)") == 2


def test_bench_reruns_changed_settings(tmp_path):
    # A run with other steps has another fingerprint, so it is not taken from the file.
    first = mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"], steps=2)
    second = mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"], steps=3)
    assert first[1].key != second[1].key
    assert first[0].key == second[0].key  # the real-data reference does not train


def test_bench_runs_pairs(tmp_path, capsys):
    arguments = ["bench", "mode-collapse", "--runs", "ring:gan", "--steps", "2", "--no-write",
                 "--results", str(tmp_path / "results.jsonl")]
    assert cli.main(arguments) == 0
    records = read_records(tmp_path / "results.jsonl")
    assert [(r["dataset"], r["method"]) for r in records] == [("ring", "real-data"), ("ring", "gan")]

    bad = ["bench", "mode-collapse", "--runs", "ring", "--no-write",
           "--results", str(tmp_path / "other.jsonl")]
    with pytest.raises(SystemExit) as stopped:
        cli.main(bad)
    assert stopped.value.code == cli.EXIT_USAGE
    assert "DATASET:METHOD" in capsys.readouterr().err


@pytest.mark.parametrize("option,value", [
    ("--datasets", "moons"),
    ("--methods", "gan,lsgan"),
    ("--seeds", "0"),
    ("--steps", "0"),
])
def test_bench_rejects_bad_options(tmp_path, capsys, option, value):
    arguments = ["bench", "mode-collapse", option, value, "--no-write",
                 "--results", str(tmp_path / "results.jsonl")]
    assert cli.main(arguments) == cli.EXIT_INVALID_INPUT

    message = capsys.readouterr().err
    assert option in message
    assert value.split(",")[-1] in message
    assert not (tmp_path / "results.jsonl").exists()


def test_section_names():
    assert bench.section_name("full", None) == "mode-collapse"
    assert bench.section_name("quick", None) == "mode-collapse-quick"
    assert bench.section_name("quick", "mode-collapse-ring-long") == "mode-collapse-ring-long"
    for bad in ["fid", "mode-collapse-", "mode-collapse-Ring", "mode-collapse ring", "x-mode-collapse"]:
        with pytest.raises(ValueError, match="--section"):
            bench.section_name("full", bad)


def test_command_line_keeps_section():
    args = cli.build_parser().parse_args(["bench", "mode-collapse", "--preset", "full", "--datasets", "ring",
                                          "--section", "mode-collapse-ring"])
    line = bench._command_line(args)
    assert line == ("discrepancy bench mode-collapse --preset full --datasets ring "
                    "--section mode-collapse-ring")


def test_bench_rejects_foreign_section(tmp_path, capsys):
    arguments = bench_arguments(tmp_path, "--section", "fid")
    assert cli.main(arguments) == cli.EXIT_INVALID_INPUT
    assert "'fid'" in capsys.readouterr().err
    assert not (tmp_path / "results.jsonl").exists()


def test_bench_rejects_corrupt_results(tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text('{"dataset": "ring"\n')
    assert cli.main(bench_arguments(tmp_path)) == cli.EXIT_INVALID_INPUT
    message = capsys.readouterr().err
    assert "line 1" in message
    assert str(results) in message


def test_bench_wrapper_script_forwards(capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "mode_collapse.py"
    spec = importlib.util.spec_from_file_location("mode_collapse_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    assert script.main(["--datasets", "moons", "--no-write"]) == cli.EXIT_INVALID_INPUT
    assert "moons" in capsys.readouterr().err
