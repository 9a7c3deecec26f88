"""itoutcomes: validated outcomes research for intrathecal drug delivery (IDD) therapy."""

from itoutcomes.cohort import Cohort, CohortError, IdentifierWarning, load_cohort
from itoutcomes.conversion import conversion_rate, flow, predictors
from itoutcomes.pain import change_from_baseline, mixed_model, responders
from itoutcomes.stats import paired_change, proportion_ci
from itoutcomes.synthetic import generate

__all__ = [
    "Cohort",
    "CohortError",
    "IdentifierWarning",
    "change_from_baseline",
    "conversion_rate",
    "flow",
    "generate",
    "load_cohort",
    "mixed_model",
    "paired_change",
    "predictors",
    "proportion_ci",
    "responders",
]
__version__ = "0.1.0.dev0"
