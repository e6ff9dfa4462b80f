"""Command-line options shared by the commands that estimate divergences."""

from __future__ import annotations

import argparse

# Options each divergence accepts; an option given on the command line is
# passed only to the divergences that take it, and `--option` passes any
# other keyword through unchanged.
_ACCEPTS = {
    "mmd2": ("kernel", "bandwidth", "tile_size"),
    "energy": ("exponent", "tile_size"),
    "wasserstein": ("p",),
    "sliced-wasserstein": ("p", "num_projections", "num_bootstrap"),
    "sinkhorn": ("p", "epsilon", "num_bootstrap"),
    "frechet": ("num_bootstrap",),
    "gaussian-kl": ("num_bootstrap",),
    "kl": ("k",),
}


def _parse_bandwidth(text: str):
    if text in ("median", "multiscale"):
        return text
    try:
        if "," in text:
            return [float(value) for value in text.split(",")]
        return float(text)
    except ValueError:
        # argparse reports this message with exit status 2.
        raise argparse.ArgumentTypeError(
            f"invalid bandwidth {text!r}; pass a number, comma-separated numbers, "
            "'median' or 'multiscale'"
        ) from None


def _parse_value(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def add_estimator_options(parser: argparse.ArgumentParser) -> None:
    """Adds the estimator options to `parser`."""
    group = parser.add_argument_group("estimator options")
    group.add_argument("--kernel", help="MMD kernel: gaussian, laplacian, rational-quadratic, inverse-multiquadric, polynomial")
    group.add_argument(
        "--bandwidth",
        type=_parse_bandwidth,
        help="kernel bandwidth: a number, comma-separated numbers, 'median' or 'multiscale'",
    )
    group.add_argument("-p", type=float, dest="p", help="order p of the Wasserstein cost |x - y|^p")
    group.add_argument("--epsilon", type=float, help="Sinkhorn entropic regularisation, in cost units")
    group.add_argument("--num-projections", type=int, help="directions for the sliced Wasserstein distance")
    group.add_argument("--k", type=int, help="neighbours for the kNN KL estimator")
    group.add_argument("--exponent", type=float, help="distance exponent of the energy distance, in (0, 2)")
    group.add_argument("--num-bootstrap", type=int, help="bootstrap resamples for the standard error (0 disables)")
    group.add_argument("--tile-size", type=int, help="rows per tile of pairwise computations")
    group.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other estimator keyword, repeatable (for example --option max_iterations=500)",
    )


def estimator_options(args: argparse.Namespace) -> dict:
    """Collects the options the user set, as keyword arguments."""
    names = ("kernel", "bandwidth", "p", "epsilon", "num_projections", "k", "exponent", "num_bootstrap", "tile_size")
    options = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    extra = {}
    for item in args.option:
        if "=" not in item:
            raise ValueError(f"--option expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        extra[key.strip().replace("-", "_")] = _parse_value(value.strip())
    if "p" in options and float(options["p"]).is_integer():
        options["p"] = int(options["p"])
    return {"named": options, "extra": extra}


def options_for(divergence: str, options: dict) -> dict:
    """Returns the keyword arguments that apply to `divergence`."""
    accepted = _ACCEPTS.get(divergence, ())
    selected = {key: value for key, value in options["named"].items() if key in accepted}
    selected.update(options["extra"])
    return selected
