"""Tests of the mode-collapse benchmark's plan and results file."""

import json

import numpy as np
import pytest

from discrepancy._bench import mode_collapse, mode_collapse_runs


def test_quick_plan_covers_everything():
    runs = mode_collapse.plan_runs("quick")
    trained = [run for run in runs if run.method.name != mode_collapse.REFERENCE]
    assert {run.method.name for run in trained} == set(mode_collapse.DEFAULT_METHODS)
    assert {run.dataset for run in trained} == set(mode_collapse.DATASETS)
    references = [run.dataset for run in runs if run.method.name == mode_collapse.REFERENCE]
    assert references == list(mode_collapse.DATASETS)


def test_plan_full_size():
    runs = mode_collapse.plan_runs("full")
    # 4 datasets x 11 methods x 10 seeds, the best configuration of 3 datasets
    # x 10 seeds, and one real-data reference per dataset.
    assert len(runs) == 4 * 11 * 10 + 3 * 10 + 4
    assert {run.num_eval_samples for run in runs if run.dataset == "stacked_digits"} == {26000}


def test_full_plan_adds_best_methods():
    runs = mode_collapse.plan_runs("full", seeds=1)
    planned = {(run.dataset, run.method.name): run for run in runs}
    grid = planned[("grid", "pacgan2-mmd-floor")]
    assert (grid.steps, grid.batch_size) == (16000, 2048)
    digits = planned[("stacked_digits", "wgan-gp-pack2-channel-indep")]
    assert (digits.steps, digits.batch_size) == (8000, 256)
    assert ("ring", "pacgan2-long") in planned
    high_dim = {name for dataset, name in planned
                if dataset == "high_dim_ring" and name != mode_collapse.REFERENCE}
    assert high_dim == set(mode_collapse.DEFAULT_METHODS)


def test_plan_overrides():
    runs = mode_collapse.plan_runs("quick", datasets=["grid"], methods=["kl", "pacgan2-long"],
                                   seeds=2, first_seed=5, steps=7)
    trained = [(run.method.name, run.seed, run.steps) for run in runs[1:]]
    assert trained == [("kl", 5, 7), ("kl", 6, 7), ("pacgan2-long", 5, 7), ("pacgan2-long", 6, 7)]


def test_plan_keeps_configured_steps():
    runs = mode_collapse.plan_runs("quick", datasets=["ring"], methods=["pacgan2-long"])
    assert runs[1].steps == 12000


def test_run_key_depends_on_settings():
    ring = mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"])[1]
    assert ring.key == mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"])[1].key
    assert ring.key != mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"], steps=601)[1].key
    assert ring.key != mode_collapse.plan_runs("full", datasets=["ring"], methods=["gan"], seeds=1)[1].key


@pytest.mark.parametrize("option,value", [
    ("datasets", ["moons"]),
    ("methods", ["lsgan"]),
])
def test_plan_rejects_unknown_names(option, value):
    with pytest.raises(ValueError, match=value[0]):
        mode_collapse.plan_runs("quick", **{option: value})


def test_append_and_load_results(tmp_path):
    path = tmp_path / "folder" / "results.jsonl"
    assert mode_collapse.load_results(path) == []

    first = {"dataset": "ring", "method": "gan", "seed": 0, "fingerprint": "abc", "kl": 0.5}
    second = {"dataset": "ring", "method": "gan", "seed": 1, "fingerprint": "abc", "kl": 0.25}
    mode_collapse.append_result(path, first)
    mode_collapse.append_result(path, second)

    assert mode_collapse.load_results(path) == [first, second]
    assert path.read_text().count("\n") == 2
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    assert mode_collapse.record_key(second) == ("ring", "gan", 1, "abc")


def test_append_rejects_nan(tmp_path):
    record = {"dataset": "ring", "method": "gan", "seed": 0, "fingerprint": "abc", "kl": float("nan")}
    with pytest.raises(ValueError):
        mode_collapse.append_result(tmp_path / "results.jsonl", record)
    assert not (tmp_path / "results.jsonl").exists()


def test_load_rejects_foreign_records(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"dataset": "ring"}) + "\n")
    with pytest.raises(ValueError, match="line 1"):
        mode_collapse.load_results(path)


def test_mlp_image_method_builds_mlp_networks():
    run = mode_collapse.plan_runs("quick", datasets=["stacked_digits"],
                                  methods=["wgan-gp-pack2-mlp"], steps=3)[1]
    model = mode_collapse_runs.build_model(run, (8, 8, 3))
    dense = [layer.units for layer in model.generator.layers if hasattr(layer, "units")]
    # Two hidden layers of 256 units, then one output per pixel value.
    assert dense == [256, 256, 8 * 8 * 3]
    assert model.generator.input_shape == (None, 32)
    assert model.pack == 2
    assert model.critic_steps == 5
    assert model.generate(4, seed=0).shape == (4, 8, 8, 3)


def test_matching_method_builds_decaying_term():
    run = mode_collapse.plan_runs("quick", datasets=["grid"], methods=["pacgan2-mmd-16k"], steps=400)[1]
    model = mode_collapse_runs.build_model(run, (2,))
    assert model.sample_matching.bandwidth == (0.5, 1.0, 2.0)
    assert model.sample_matching_size == 512
    # The weight reaches 0 after a quarter of the run's steps.
    assert model.sample_matching_decay_steps == 100
    assert float(model.sample_matching_weight_at(50)) == 50.0


def test_matching_floor_keeps_final_weight():
    run = mode_collapse.plan_runs("quick", datasets=["grid"], methods=["pacgan2-mmd-floor"], steps=400)[1]
    model = mode_collapse_runs.build_model(run, (2,))
    weights = [float(model.sample_matching_weight_at(step)) for step in (0, 50, 100, 399)]
    # From 100 to 10 over a quarter of the steps, then 10.
    assert weights == pytest.approx([100.0, 55.0, 10.0, 10.0])


def test_plan_pairs():
    runs = mode_collapse.plan_runs("full", pairs=[("ring", "pacgan2-long"), ("grid", "pacgan2-mmd-16k"),
                                                  ("grid", "gan")], seeds=2)
    assert [(run.dataset, run.method.name, run.seed) for run in runs] == [
        ("ring", "real-data", 0), ("ring", "pacgan2-long", 0), ("ring", "pacgan2-long", 1),
        ("grid", "real-data", 0), ("grid", "pacgan2-mmd-16k", 0), ("grid", "pacgan2-mmd-16k", 1),
        ("grid", "gan", 0), ("grid", "gan", 1)]
    with pytest.raises(ValueError, match="--runs"):
        mode_collapse.plan_runs("full", pairs=[("ring", "gan")], methods=["gan"])
    with pytest.raises(ValueError, match="moons"):
        mode_collapse.plan_runs("full", pairs=[("moons", "gan")])


def test_conv_networks_keep_earlier_fingerprints():
    # The fingerprint of a "conv" method leaves out the `networks` field, and
    # empty `matching` and `independence` fields, so results recorded before
    # those fields existed still match their runs.
    import dataclasses
    import hashlib

    from discrepancy import __version__

    run = mode_collapse.plan_runs("quick", datasets=["ring"], methods=["gan"])[1]
    method = dataclasses.asdict(run.method)
    del method["networks"], method["matching"], method["independence"]
    method["hidden_units"] = list(method["hidden_units"])
    settings = {"dataset": "ring", "method": method, "steps": run.steps,
                "batch_size": run.batch_size, "num_eval_samples": run.num_eval_samples,
                "num_train": mode_collapse.NUM_TRAIN, "version": __version__}
    expected = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    assert run.fingerprint == expected
    mlp = mode_collapse.plan_runs("quick", datasets=["stacked_digits"], methods=["wgan-gp-pack2-mlp"])[1]
    assert mlp.fingerprint != mode_collapse.plan_runs(
        "quick", datasets=["stacked_digits"], methods=["wgan-gp-pack2-mlp"], steps=7999)[1].fingerprint


def test_channel_method_shares_encoder():
    import keras

    run = mode_collapse.plan_runs("quick", datasets=["stacked_digits"],
                                  methods=["wgan-gp-pack2-channel"], steps=3)[1]
    model = mode_collapse_runs.build_model(run, (8, 8, 3))
    generator_units = [layer.units for layer in model.generator.layers if hasattr(layer, "units")]
    assert generator_units == [512, 512, 8 * 8 * 3]

    packed = np.zeros((2, 8, 8, 2 * 3), np.float32)  # two packed 8x8x3 images
    assert model.critic(packed).shape == (2, 1)
    critic_kernels = [layer.kernel.shape for layer in model.critic.layers
                      if isinstance(layer, keras.layers.Dense)]
    # One 64-pixel encoder for all 2 x 3 packed channels, then the joint layers.
    assert critic_kernels == [(64, 256), (256, 256), (6 * 256, 256), (256, 1)]


def test_independence_method_adds_the_term():
    run = mode_collapse.plan_runs("quick", datasets=["stacked_digits"],
                                  methods=["wgan-gp-pack2-channel-indep"], steps=3)[1]
    model = mode_collapse_runs.build_model(run, (8, 8, 3))
    settings = model.settings()["channel_independence"]
    assert settings["weight"] == 100.0
    assert settings["divergence"]["bandwidth"] == [2.0, 4.0, 8.0]
    plain = mode_collapse_runs.build_model(
        mode_collapse.plan_runs("quick", datasets=["stacked_digits"],
                                methods=["wgan-gp-pack2-channel"], steps=3)[1], (8, 8, 3))
    assert plain.settings()["channel_independence"] is None
