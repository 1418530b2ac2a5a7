"""Zone Explorer: ``import zone_explorer as ze`` to explore an optimizer's zone on your own training code.

``ze.explore(train, ...)`` runs the exploration of a function ``train(trial)``; ``ze.trial()`` gives the trial to a
script that ``zone-explorer run --command`` launched (or the optimizer's defaults when run on its own).
The SDK is imported on first use: ``import zone_explorer`` alone stays cheap for the engine's own modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zone_explorer.sdk import Trial, TrialDiverged, TrialPruned, TrialStopped, explore, trial

__all__ = ["Trial", "TrialDiverged", "TrialPruned", "TrialStopped", "explore", "trial"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from zone_explorer import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'zone_explorer' has no attribute {name!r}")
