"""GANs trained by minimising a discrepancy chosen from `discrepancy.divergences`."""

from discrepancy.gans._callbacks import CheckpointCallback, EnergyCallback, MetricsCallback, SamplePlotCallback
from discrepancy.gans._energy import EnergyMeter
from discrepancy.gans._gan import GAN, TrainingDivergedError
from discrepancy.gans._networks import (
    channel_critic,
    conv_critic,
    conv_generator,
    mlp_critic,
    mlp_generator,
    mlp_image_generator,
)
from discrepancy.gans._objectives import (
    EnergyObjective,
    FGANObjective,
    MMDObjective,
    Objective,
    SinkhornObjective,
    WassersteinObjective,
)
from discrepancy.gans._variants import ConditionalGAN, InfoGAN, VEEGAN

__all__: list[str] = [
    "GAN",
    "ConditionalGAN",
    "InfoGAN",
    "VEEGAN",
    "TrainingDivergedError",
    "CheckpointCallback",
    "EnergyCallback",
    "EnergyMeter",
    "MetricsCallback",
    "SamplePlotCallback",
    "EnergyObjective",
    "FGANObjective",
    "MMDObjective",
    "Objective",
    "SinkhornObjective",
    "WassersteinObjective",
    "channel_critic",
    "conv_critic",
    "conv_generator",
    "mlp_critic",
    "mlp_generator",
    "mlp_image_generator",
]
