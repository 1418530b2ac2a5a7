"""Search that maps the zone: :class:`ZoneSampler`, an Optuna sampler for level sets (usable in any study)."""

from zone_explorer.search.zone_sampler import ZoneSampler

__all__ = ["ZoneSampler"]
