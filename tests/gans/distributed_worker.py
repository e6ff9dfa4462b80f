"""Trains a small GAN under a distribution strategy; run by test_distribute.py in a subprocess.

Usage:
  python distributed_worker.py mirrored OUTPUT_JSON
      Two logical CPU devices: one step with MirroredStrategy and one step on a
      single device, from the same initial weights and global batch.
  python distributed_worker.py multi-worker OUTPUT_JSON CHECKPOINT_DIR
      One worker of a MultiWorkerMirroredStrategy run (TF_CONFIG set by the
      caller): a few steps with checkpoints.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

MODE = sys.argv[1]
if MODE == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

import keras  # noqa: E402

from discrepancy import datasets, gans  # noqa: E402
from discrepancy.gans import _callbacks, _networks  # noqa: E402

DATA = datasets.ring(64, seed=0).samples
STEPS = int(os.environ.get("WORKER_STEPS", "2"))


def build(strategy, divergence):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = gans.GAN(
            _networks.mlp_generator(2, latent_dim=4, hidden_units=(16,)),
            _networks.mlp_critic(hidden_units=(16,)),
            divergence=divergence,
            critic_steps=2,
            seed=3,
        )
        model.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01), jit_compile=False)
        model.build_networks()
    return model


def weights(model):
    return [v.numpy().tolist() for v in model.generator.variables + model.critic.variables]


def batches():
    # The same global batch of 64 rows every step, in a fixed order; the
    # mirrored strategy hands replica r rows [32 r, 32 r + 32) of it.
    return tf.data.Dataset.from_tensor_slices(DATA).batch(64, drop_remainder=True).repeat()


def run_mirrored(output):
    results = {}
    for divergence in ("wasserstein", "gan"):
        single = build(tf.distribute.get_strategy(), divergence)
        single.fit(batches(), epochs=1, steps_per_epoch=2, verbose=0)
        mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        mirrored = build(mirrored_strategy, divergence)
        mirrored.fit(batches(), epochs=1, steps_per_epoch=2, verbose=0)
        results[divergence] = {
            "replicas": mirrored_strategy.num_replicas_in_sync,
            "single": weights(single),
            "mirrored": weights(mirrored),
            "steps": [single.step, mirrored.step],
        }
    with open(output, "w") as stream:
        json.dump(results, stream)


def worker_batches(context):
    # Worker w reads rows [32 w, 32 w + 32) of the global batch: the rows the
    # single-device step gives its replica w.
    local = context.get_per_replica_batch_size(64)
    rows = DATA[context.input_pipeline_id * local:(context.input_pipeline_id + 1) * local]
    return tf.data.Dataset.from_tensors(rows).repeat()


def run_multi_worker(output, directory):
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    model = build(strategy, "wasserstein")
    checkpoints = _callbacks.CheckpointCallback(directory, every_steps=1)
    distributed = strategy.distribute_datasets_from_function(worker_batches)
    model.fit(distributed, epochs=1, steps_per_epoch=STEPS, callbacks=[checkpoints], verbose=0)
    reference = build(tf.distribute.get_strategy(), "wasserstein")
    reference.fit(batches(), epochs=1, steps_per_epoch=STEPS, verbose=0)
    with open(output, "w") as stream:
        json.dump({"replicas": strategy.num_replicas_in_sync, "step": model.step,
                   "weights": weights(model), "single": weights(reference)}, stream)


if __name__ == "__main__":
    if MODE == "mirrored":
        run_mirrored(sys.argv[2])
    else:
        run_multi_worker(sys.argv[2], sys.argv[3])
