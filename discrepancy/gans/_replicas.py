"""Random draws that agree between one device and many replicas.

Under a distribution strategy each replica sees a slice of the global batch.
To make a step on R replicas equal the single-device step on the same global
batch, every per-sample random draw (noise, interpolation weights) is made
for the whole global batch from the same stateless seed on every replica,
and each replica keeps its own rows: replica r keeps rows
[r * local, (r + 1) * local), the rows a distributed dataset hands it.
"""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf

__all__ = ["draw_replica_slice", "replica_info"]


def replica_info() -> tuple[int, Any]:
    """Returns (number of replicas in sync, this replica's index) in the current context."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def draw_replica_slice(draw, local_shape: Sequence[Any], seed: tf.Tensor) -> tf.Tensor:
    """Draws the global batch with `draw(shape, seed)` and returns this replica's rows.

    With one replica this is `draw(local_shape, seed)`. With R replicas the
    global batch has R * local rows and replica r keeps rows
    [r * local, (r + 1) * local), the rows a distributed dataset hands it.
    """
    replicas, replica_id = replica_info()
    if replicas == 1:
        return draw(local_shape, seed)
    local = local_shape[0]
    full = draw([local * replicas] + list(local_shape[1:]), seed)
    return tf.gather(full, replica_id * local + tf.range(local))
