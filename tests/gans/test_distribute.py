"""Tests of training under tf.distribute: 2 logical CPU devices, and 2 worker processes on localhost.

Each case runs `distributed_worker.py` in fresh processes, because logical
devices and TF_CONFIG must be set before TensorFlow starts.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("distributed_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def worker_environment(**extra):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])
    return environment


def assert_weights_close(actual, expected):
    for a, b in zip(actual, expected):
        a, b = np.asarray(a), np.asarray(b)
        # float32 sums in a different order across replicas: rounding of
        # about 1e-7 relative per operation, grown over a few SGD steps.
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(b).max())))


def test_mirrored_step_equals_single_device(tmp_path):
    output = tmp_path / "mirrored.json"
    completed = subprocess.run([sys.executable, str(WORKER), "mirrored", str(output)],
                               env=worker_environment(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]

    results = json.loads(output.read_text())
    for divergence, result in results.items():
        assert result["replicas"] == 2, divergence
        assert result["steps"] == [2, 2], divergence
        assert_weights_close(result["mirrored"], result["single"])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_trains_and_checkpoints(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    checkpoints = tmp_path / "checkpoints"
    processes = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        processes.append(subprocess.Popen(
            [sys.executable, str(WORKER), "multi-worker", str(tmp_path / f"worker{index}.json"), str(checkpoints)],
            env=worker_environment(TF_CONFIG=config, WORKER_STEPS="2"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    try:
        outputs = [process.communicate(timeout=600) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    chief, other = (json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2))

    assert chief["replicas"] == 2
    assert chief["step"] == other["step"] == 2
    assert_weights_close(other["weights"], chief["weights"])
    assert_weights_close(chief["weights"], chief["single"])
    # Only the chief writes into the checkpoint folder.
    assert (checkpoints / "ckpt-2.index").exists()
    assert sorted(path.name for path in checkpoints.iterdir() if path.is_dir()) == []
