"""Training progress on stderr for `discrepancy train`: a live line on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO

import keras

from discrepancy._commands.run_folder import format_duration

# A terminal line is redrawn at most this often, so drawing costs nothing next to a step.
_REDRAW_SECONDS = 0.2


class ProgressCallback(keras.callbacks.Callback):
    """Reports the step, recent losses, the elapsed time and the ETA while `fit` runs.

    On a terminal the line is redrawn in place (carriage return). When the
    stream is not a terminal (a log file, a pipe, CI), one full line is
    written each time training passes another tenth of its steps, and at least
    every `log_seconds`, so logs stay readable.

    Losses are averaged over the steps since the previous line. Keras reports
    their mean since the start of the epoch, which the callback turns into
    sums. The ETA assumes that the remaining steps run as fast as the steps
    since the first report of this process, which excludes the time spent
    compiling the train step.

    Args:
      total_steps: generator steps the run ends at.
      stream: text stream; sys.stderr when None.
      interactive: whether to redraw one line in place. None uses `stream.isatty()`.
      log_seconds: maximum seconds between two log lines when not interactive.
    """

    def __init__(self, total_steps: int, *, stream: IO[str] | None = None,
                 interactive: bool | None = None, log_seconds: float = 30.0):
        super().__init__()
        self.total_steps = int(total_steps)
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty())
        self.interactive = interactive
        self.log_seconds = float(log_seconds)

        # GAN.fit may call keras fit twice on resume (the rest of an interrupted
        # epoch, then whole epochs), so the clock starts only once.
        self._started: float | None = None
        self._rate_origin: tuple[float, int] | None = None
        self._last_output = 0.0
        self._next_tenth = 1
        self._line_open = False

        # Step at which the current epoch began, and the step and loss sums at
        # the previous line, to average losses over the steps in between.
        self._epoch_start = 0
        self._previous_step = 0
        self._previous_sums: dict[str, float] = {}
        self._recent: dict[str, float] = {}

    def on_train_begin(self, logs=None):
        if self._started is None:
            self._started = time.monotonic()
            self._next_tenth = self.model.step * 10 // max(self.total_steps, 1) + 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._previous_step = self.model.step
        self._previous_sums = {}

    def on_train_batch_end(self, batch, logs=None):
        step = self.model.step
        now = time.monotonic()
        if self._rate_origin is None:
            self._rate_origin = (now, step)
        if self.interactive:
            if now - self._last_output >= _REDRAW_SECONDS or step >= self.total_steps:
                self._write("\r" + self.describe(step, logs, now) + "\x1b[K", now)
                self._line_open = True
            return

        passed_tenth = step * 10 >= self._next_tenth * self.total_steps
        if passed_tenth or now - self._last_output >= self.log_seconds:
            self._write(self.describe(step, logs, now) + "\n", now)
            self._next_tenth = step * 10 // max(self.total_steps, 1) + 1

    def on_train_end(self, logs=None):
        if self._line_open:
            self._write("\n", time.monotonic())
            self._line_open = False

    def _average_losses(self, step: int, logs) -> dict[str, float]:
        """Returns each loss averaged over the steps since the previous call."""
        steps_in_epoch = step - self._epoch_start
        if step <= self._previous_step:
            return self._recent
        sums = {name: float(value) * steps_in_epoch for name, value in (logs or {}).items()
                if name.endswith("loss")}
        self._recent = {name: (total - self._previous_sums.get(name, 0.0)) / (step - self._previous_step)
                        for name, total in sums.items()}
        self._previous_step, self._previous_sums = step, sums
        return self._recent

    def describe(self, step: int, logs, now: float) -> str:
        """Returns the progress line: step, percentage, recent losses, elapsed time and ETA."""
        parts = [f"step {step}/{self.total_steps}", f"{100.0 * step / max(self.total_steps, 1):3.0f} %"]
        parts += [f"{name} {value:.4g}" for name, value in self._average_losses(step, logs).items()]

        parts.append(f"elapsed {format_duration(now - (self._started or now))}")
        origin_time, origin_step = self._rate_origin or (now, step)
        if step > origin_step:
            seconds_per_step = (now - origin_time) / (step - origin_step)
            parts.append(f"ETA {format_duration(max(self.total_steps - step, 0) * seconds_per_step)}")
        return "  ".join(parts)

    def _write(self, text: str, now: float) -> None:
        self.stream.write(text)
        self.stream.flush()
        self._last_output = now
