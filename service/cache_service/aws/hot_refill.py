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
#: Waited past the hot set's flush interval when it is found empty (after a FLUSHALL, every
#: live process puts its counts back by its next flush).
_FLUSH_MARGIN_S = 0.5


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
    settings = components.settings
    # ``Components.hot_set`` comes with the hot-set change; until then there is none.
    hot_set = getattr(components, "hot_set", None)
    redis = next((cache for cache in components.caches if cache.name == "redis"), None)
    if n < 1 or hot_set is None or redis is None:
        log.warning(
            "scheduled hot refill skipped: it needs N above 0 in the event's detail "
            '({"hot": N}; is %d), Redis (CACHE_REDIS_URL) and the hot set (CACHE_HOT_SET_SIZE '
            "above 0)",
            n,
        )
        return {"refill": "skipped"}
    from ..refill import RefillReport, refill_hot  # type: ignore[import,unused-ignore]

    report = RefillReport(asked=n)
    try:
        await refill_hot(
            hot_set,
            components.store,
            redis,
            n,
            wait_s=settings.hot_flush_s + _FLUSH_MARGIN_S,  # type: ignore[attr-defined,unused-ignore]
            report=report,
        )
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        log.error("scheduled hot refill failed: %s", report.error)
    else:
        log.info("scheduled hot refill done", extra={"refill": report.as_dict()})
    return {"refill": report.as_dict()}
