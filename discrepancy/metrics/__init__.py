"""Sample-quality metrics for generated data: x or `real` is real, y or `fake` generated."""

from discrepancy.metrics._prdc import DensityCoverage, PrecisionRecall, density_coverage, precision_recall
from discrepancy.metrics._mode_coverage import ModeCoverage, mode_coverage
from discrepancy.metrics._digits import DigitsClassifier
from discrepancy.metrics._c2st import C2STResult, c2st
from discrepancy.metrics._statistics import FeatureStatistics
from discrepancy.metrics._fid import FIDResult, fid
from discrepancy.metrics._kid import KIDResult, kid
from discrepancy.metrics._features import InceptionFeatures
from discrepancy.metrics._classifier_score import ClassifierScore, classifier_score

__all__: list[str] = [
    "FeatureStatistics",
    "fid",
    "FIDResult",
    "kid",
    "KIDResult",
    "InceptionFeatures",
    "classifier_score",
    "ClassifierScore",
    "precision_recall",
    "PrecisionRecall",
    "density_coverage",
    "DensityCoverage",
    "mode_coverage",
    "ModeCoverage",
    "DigitsClassifier",
    "c2st",
    "C2STResult",
]
