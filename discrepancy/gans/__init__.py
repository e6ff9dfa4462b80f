"""GANs trained by minimising a discrepancy chosen from `discrepancy.divergences`."""

__all__: list[str] = []
