"""Exact, fast PyTorch implementations of the momentum optimizers whose optimal zones Zone Explorer maps.

``optimizers`` depends on torch alone. :mod:`optimizers.registry` lists every optimizer (ours and torch's
baselines) with its hyperparameter domains; :mod:`optimizers.filters` gives the momentum-filter view.
"""

from .autosgm import AutoSGM
from .fsgdm import FSGDM
from .gsgd import GSGD
from .lion import Lion
from .lowrank import LowRankAdam, LowRankHeavyBall, LowRankLinear
from .schedulefree import AdamWScheduleFree, SGDScheduleFree
from .signum import Signum

__all__ = [
    "FSGDM",
    "AutoSGM",
    "GSGD",
    "Lion",
    "LowRankAdam",
    "LowRankHeavyBall",
    "LowRankLinear",
    "SGDScheduleFree",
    "AdamWScheduleFree",
    "Signum",
]
