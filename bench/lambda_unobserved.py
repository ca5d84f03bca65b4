"""The service's own handler with Powertools left out: no JSON logs, no EMF, no X-Ray.

Copied into the function folder beside the service, so that a cold-start run of it against
the shipped handler, in the same run, measures what observability adds to a cold start.
"""

from __future__ import annotations

from cache_service.aws.handler import LambdaHandler

handler = LambdaHandler(observe=False)
