"""Old import path of the upload forms, kept while `commands/demo.py` still uses it.

Remove once demo.py (h11's) imports `energystat.contract.forms`.
"""

from energystat.contract.forms import MONTHLY_SHEET

__all__ = ["MONTHLY_SHEET"]
