"""Local Mobility Anchor: binding cache, prefix pool and the sans-IO state machine."""

from .cache import BceState, BindingCache, BindingCacheEntry
from .machine import ADMISSION_CHECKS, LmaSettings, LocalMobilityAnchor
from .pool import PrefixPool

__all__ = [
    "ADMISSION_CHECKS",
    "BceState",
    "BindingCache",
    "BindingCacheEntry",
    "LmaSettings",
    "LocalMobilityAnchor",
    "PrefixPool",
]
