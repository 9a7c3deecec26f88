"""itoutcomes: validated outcomes research for intrathecal drug delivery (IDD) therapy."""

from itoutcomes.cohort import Cohort, CohortError, IdentifierWarning, load_cohort
from itoutcomes.synthetic import generate

__all__ = ["Cohort", "CohortError", "IdentifierWarning", "generate", "load_cohort"]
__version__ = "0.1.0.dev0"
