"""One profile per registry optimizer: how Zone Explorer explores it (see :class:`Profile`).

Each module of this package (``base`` aside) holds the profiles of one optimizer family in a tuple
``PROFILES``; they are collected here at import, and the import fails unless every entry of
:data:`optimizers.registry.REGISTRY` has exactly one profile. Adding an optimizer therefore means its
implementation (with its registry entry) plus one module here, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from optimizers.hyperparams import closest_name
from optimizers.registry import REGISTRY
from zone_explorer.core.profiles.base import (
    Profile,
    ProfileError,
    ReferenceZone,
    Reparametrization,
    RunLength,
    Snippet,
    StagedFilter,
)

__all__ = [
    "PROFILES",
    "Profile",
    "ProfileError",
    "ReferenceZone",
    "Reparametrization",
    "RunLength",
    "Snippet",
    "StagedFilter",
    "get_profile",
    "index_profiles",
]


def index_profiles(profiles: Iterable[Profile], names: Iterable[str]) -> dict[str, Profile]:
    """``profiles`` by name in the order of ``names``; raises ``ImportError`` unless each name has exactly one."""
    by_name: dict[str, Profile] = {}
    for profile in profiles:
        if profile.name in by_name:
            raise ImportError(f"optimizer {profile.name!r} has two profiles; keep one")
        by_name[profile.name] = profile
    names = list(names)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ImportError(f"no profile for registry optimizer(s) {', '.join(missing)}: add a module to {__name__}")
    unknown = [n for n in by_name if n not in names]
    if unknown:
        raise ImportError(f"profile(s) {', '.join(unknown)} name no registry optimizer")
    return {n: by_name[n] for n in names}


def _discovered() -> list[Profile]:
    modules = (m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
    return [p for m in modules for p in importlib.import_module(f"{__name__}.{m}").PROFILES]


#: registry name -> profile, in registry order
PROFILES: dict[str, Profile] = index_profiles(_discovered(), REGISTRY)


def get_profile(name: str) -> Profile:
    """The profile of registry optimizer ``name``; unknown names raise :class:`ProfileError` with a suggestion."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        hint = closest_name(str(name), PROFILES)
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        raise ProfileError(
            "optimizer", f"unknown optimizer {name!r}{suggestion} (known: {', '.join(PROFILES)})"
        ) from None
