"""The Python SDK: explore a zone on your own training code (see the README's "Your own training")."""

from __future__ import annotations

from zone_explorer.sdk.explore import explore
from zone_explorer.sdk.trial import Trial, TrialDiverged, TrialPruned, TrialStopped, trial

__all__ = ["Trial", "TrialDiverged", "TrialPruned", "TrialStopped", "explore", "trial"]
