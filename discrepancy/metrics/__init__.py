"""Sample-quality metrics for generated data: x or `real` is real, y or `fake` generated."""

__all__: list[str] = []
