"""The counters of hostile or failed input that ``pmipctl status`` shows (issue 12).

Every one is also in ``pmipctl counters``; status gathers them under "dropped" so an
operator sees at a glance what the rate limits and reject paths absorbed.
"""

from __future__ import annotations

from collections.abc import Mapping

EXACT = frozenset(
    {
        "binding_error_sent",
        "binding_error_suppressed",
        "reject_log_suppressed",
        "route_failed",
        "pba_wrong_source",
        "pba_unmatched",
        "control.clients_refused",
        "control.requests_too_long",
    }
)
SUFFIXES = (".untrusted_source", ".dropped.rate_limited", ".dropped.too_long")


def dropped(counters: Mapping[str, int]) -> dict[str, int]:
    """The drop and reject counters among ``counters`` (zeros included once they exist)."""
    return {
        k: v
        for k, v in counters.items()
        if k in EXACT or k.startswith("rejected.") or k.endswith(SUFFIXES)
    }
