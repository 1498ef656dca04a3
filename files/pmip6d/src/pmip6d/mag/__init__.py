"""Mobile Access Gateway: binding update list and the sans-IO state machine."""

from .machine import BulEntry, BulState, MagSettings, MobileAccessGateway

__all__ = ["BulEntry", "BulState", "MagSettings", "MobileAccessGateway"]
