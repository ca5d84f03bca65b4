"""The warm worker's scheduled event: ``cache-service warm --hot N`` on a timer.

The refill itself (the hot set, ``refill_hot``) is the hot-set change's (``refill.py``,
``caches/hot_set.py``); this only calls it with the worker's components and the N that the
schedule puts in its event's ``detail`` (``{"hot": N}``, the stack's ``warm_hot``). Written
against that change before it is merged: the ``type: ignore`` comments go when it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import Components

log = logging.getLogger(__name__)


def hot_count(event: Mapping[str, Any]) -> int:
    """The N of a scheduled event's ``detail`` (``{"hot": N}``); 0 when it names none."""
    detail = event.get("detail")
    hot = detail.get("hot") if isinstance(detail, dict) else None
    return hot if isinstance(hot, int) and not isinstance(hot, bool) and hot > 0 else 0


async def refill(components: Components, n: int) -> dict[str, Any]:
    """Load the ``n`` most-read payloads into Redis; the refill's report.

    Never raises for the refill's own failure: the report says it, the log has it, and the
    next scheduled event tries again (an error would only make Lambda retry it twice at once).
    """
    from ..warming.refill import RefillReport, refill_from

    report = RefillReport(asked=n)
    try:
        if n < 1 or not await refill_from(components, n, report):
            log.warning(
                "scheduled hot refill skipped: it needs N above 0 in the event's detail "
                '({"hot": N}; is %d), Redis (CACHE_REDIS_URL) and the hot set '
                "(CACHE_HOT_SET_SIZE above 0)",
                n,
            )
            return {"refill": "skipped"}
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        log.error("scheduled hot refill failed: %s", report.error)
    else:
        log.info("scheduled hot refill done", extra={"refill": report.as_dict()})
    return {"refill": report.as_dict()}
