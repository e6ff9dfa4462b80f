"""GANs trained by minimising a discrepancy chosen from `discrepancy.divergences`."""

from discrepancy.gans._gan import GAN
from discrepancy.gans._objectives import (
    EnergyObjective,
    FGANObjective,
    MMDObjective,
    Objective,
    SinkhornObjective,
    WassersteinObjective,
)

__all__: list[str] = [
    "GAN",
    "EnergyObjective",
    "FGANObjective",
    "MMDObjective",
    "Objective",
    "SinkhornObjective",
    "WassersteinObjective",
]
