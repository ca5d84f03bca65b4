"""Observability on Lambda, the AWS way: JSON logs, EMF metrics and X-Ray, via Powertools.

Imported by ``LambdaHandler`` only, so the local server never loads Powertools: it keeps its
text logs and Prometheus ``/metrics``, and its hit path does no work for any of this.

Counting happens in one place, the app's Prometheus ``Metrics``. Once per invocation the
counters' growth since the previous flush is written as CloudWatch Embedded Metric Format
(one JSON document per dimension set, on stdout, where Lambda's log agent picks it up), after
the access line of the request the invocation answered, in one write.

Tracing: Powertools' Tracer opens a ``## handler`` subsegment per invocation (annotated with
``ColdStart`` and ``Service``) and patches botocore when the store is DynamoDB; ``XRaySpans``
adds one subsegment per call to the transformer, the store and Redis under it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.shared.functions import strtobool

from ..http.request_id import RequestIdFilter
from ..metrics import NAMESPACE, Dimensions, Metrics, Served, Tally
from ..settings import Settings, StoreKind

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "cache-service"


class EmfExport:
    """Renders what ``Metrics`` counted during an invocation as EMF documents, one per metric
    and dimension set that moved, from the tally kept where the counting happens.

    Names and dimensions: ``metrics.EMF_METRICS``; every document also carries the ``service``
    dimension. The documents are the ones Powertools' ``single_metric`` writes (one dimension
    set each), rendered directly: building them through it cost a warm hit more than the app
    itself. All of a document but its timestamp and values is the same whenever its metric and
    dimensions move, so that part is serialised once per set and kept.
    """

    def __init__(self, metrics: Metrics, *, namespace: str, service: str) -> None:
        self.tally = metrics.tally = Tally()
        self._namespace = namespace
        self._service = service
        self._fixed: dict[tuple[str, Dimensions, str], str] = {}

    def forget(self) -> None:
        """Drop what was counted so far (the requests that warmed the app before a snapshot)."""
        self.tally.take()
        self.tally.take_samples()
        self.tally.take_served()

    def lines(self, *, cold_start: bool) -> list[str]:
        """What was counted since the last call, one line per document; none when nothing was."""
        counts = self.tally.take()
        samples = self.tally.take_samples()
        if cold_start:
            counts[("ColdStart", ())] = 1.0
        if not counts and not samples:
            return []
        timestamp = int(time.time() * 1000)
        # Values as JSON: finite floats, each as ``repr`` writes it, which is JSON's notation.
        lines = [
            self._document(name, dims, "Count", timestamp, repr(value))
            for (name, dims), value in counts.items()
        ]
        lines += [
            self._document(name, dims, "Milliseconds", timestamp, ",".join(map(repr, values)))
            for (name, dims), values in samples.items()
        ]
        return lines

    def _document(
        self, name: str, dimensions: Dimensions, unit: str, timestamp: int, values: str
    ) -> str:
        key = (name, dimensions, unit)
        fixed = self._fixed.get(key)
        if fixed is None:
            fixed = self._fixed[key] = self._fixed_part(name, dimensions, unit)
        return f'{{"_aws":{{"Timestamp":{timestamp},{fixed}[{values}]}}'

    def _fixed_part(self, name: str, dimensions: Dimensions, unit: str) -> str:
        """The document after its timestamp, up to its values."""
        directive = {
            "Namespace": self._namespace,
            "Dimensions": [["service", *(key for key, _ in dimensions)]],
            "Metrics": [{"Name": name, "Unit": unit}],
        }
        properties = {"service": self._service, **dict(dimensions)}
        return (
            f'"CloudWatchMetrics":[{_json(directive)}]}},{_json(properties)[1:-1]},{_json(name)}:'
        )


#: Compact JSON, with one encoder for every call (``json.dumps`` with options makes one each).
_json = json.JSONEncoder(separators=(",", ":")).encode


class JsonLogs:
    """Every stdlib log line as one Powertools JSON object on stdout, and one access line per
    answered request.

    Keys beyond Powertools' own: ``correlation_id`` (API Gateway's request id),
    ``cold_start``, ``function_request_id`` (Lambda's) and ``request_id`` (X-Request-ID).

    The access line replaces Mangum's (``mangum.http`` at INFO, silenced once the app counts):
    method, path as the client sent it (a REST API's stage included, as in the app's own
    lines: ``GET /prod/payload/{id} 200``) and status, stamped when the answer was complete,
    with the keys every other line has, written with the invocation's EMF documents in one
    write. Through the logging module and Powertools' formatter it took a quarter of a warm
    hit.
    """

    def __init__(self, *, service: str, level: str) -> None:
        self.formatter = LambdaPowertoolsFormatter(service=service)
        self._handler = logging.StreamHandler(sys.stdout)
        self._handler.setFormatter(self.formatter)
        self._handler.addFilter(RequestIdFilter())
        root = logging.getLogger()
        # Lambda's runtime client put its own text handler on the root logger: replaced, so
        # that each line is written once, as JSON. Handlers anyone else added stay.
        self._replaced = [h for h in root.handlers if type(h).__module__.startswith("awslambdaric")]
        self._level = root.level
        for handler in self._replaced:
            root.removeHandler(handler)
        root.addHandler(self._handler)
        root.setLevel(level)
        self._mangum = logging.getLogger("mangum.http")
        self._mangum_level = self._mangum.level
        self._root = root
        self._service_key = f'"service":{_json(service)}'
        self._invocation_keys = '"cold_start":false'
        self._trace_key = ""
        # Powertools' own ``formatTime`` makes the timestamp; it reads ``created`` and ``msecs``.
        self._instant = logging.LogRecord("access", logging.INFO, "", 0, "", None, None)
        self._instant.created, self._instant.msecs = 0, 0
        # Its default format has the milliseconds after the seconds ("…13:13:29,000+0000").
        self._per_second = self.formatter.formatTime(self._instant)[19:23] == ",000"
        self._second = -1
        self._second_text = ""

    def write_access_lines(self) -> None:
        """Take over the access line from Mangum (whose own is silenced from now on): called
        once the app records what it answers, so a misconfigured app still gets Mangum's."""
        self._mangum.setLevel(logging.WARNING)

    def start(self, event: dict[str, Any], context: Any, *, cold_start: bool) -> None:
        request_context = event.get("requestContext") or {}
        correlation_id = request_context.get("requestId")
        function_request_id = getattr(context, "aws_request_id", None)
        self.formatter.append_keys(
            correlation_id=correlation_id,
            cold_start=cold_start,
            function_request_id=function_request_id,
        )
        # The access line's keys after ``service``, in Powertools' order (its trace id comes
        # last); like Powertools, it leaves out a key whose value is None. Lambda sets the
        # trace header per invocation.
        keys = []
        if correlation_id is not None:
            keys.append(f'"correlation_id":{_json(correlation_id)}')
        keys.append(f'"cold_start":{"true" if cold_start else "false"}')
        if function_request_id is not None:
            keys.append(f'"function_request_id":{_json(function_request_id)}')
        self._invocation_keys = ",".join(keys)
        trace = os.environ.get("_X_AMZN_TRACE_ID")
        root = trace.split(";")[0].replace("Root=", "") if trace else None
        self._trace_key = f',"xray_trace_id":{_json(root)}' if root else ""

    def access_line(self, served: Served) -> str | None:
        """The line for one answered request, as Powertools would write it (None below INFO)."""
        if not self._root.isEnabledFor(logging.INFO):
            return None
        message = _json(f"{served.method} {served.path} {served.status}")
        return (
            f'{{"level":"INFO","location":"access","message":{message},'
            f'"timestamp":"{self._timestamp(served.at)}",{self._service_key},'
            f'{self._invocation_keys},"request_id":{_json(served.request_id)}{self._trace_key}}}'
        )

    def _timestamp(self, at: float) -> str:
        """``at`` as Powertools' formatter writes it. In its default format all but the
        milliseconds changes once a second, and is made then; any other is made whole."""
        second = int(at)
        if not self._per_second:
            self._instant.created, self._instant.msecs = at, (at - second) * 1000
            return self.formatter.formatTime(self._instant)
        if second != self._second:
            self._instant.created = second
            self._second_text = self.formatter.formatTime(self._instant)
            self._second = second
        millis = int((at - second) * 1000)
        return f"{self._second_text[:20]}{millis:03d}{self._second_text[23:]}"

    def close(self) -> None:
        """Put the root logger back as it was (tests run many handlers in one process)."""
        root = self._root
        root.removeHandler(self._handler)
        for handler in self._replaced:
            root.addHandler(handler)
        root.setLevel(self._level)
        self._mangum.setLevel(self._mangum_level)


class XRaySpans:
    """``tracing.Spans`` as X-Ray subsegments of the invocation's current one.

    Made beside the X-Ray SDK's own entity stack, not on it: that stack is one per thread,
    so two asyncio tasks of one invocation that each opened a subsegment there would nest
    inside each other and close each other's (aws/aws-xray-sdk-python#164, which Powertools'
    Tracer documentation warns of). Our spans are leaves: each names the entity current on
    the event loop's thread (the ``## handler`` subsegment) as its parent and is sent to the
    daemon as a document of its own when it ends, so that a span still open when its
    invocation answers (a claim released after a 504) never holds the handler's back.
    """

    def __init__(self, recorder: Any) -> None:
        self._recorder = recorder

    @contextlib.contextmanager
    def span(self, dependency: str, operation: str, *, keys: int, remote: bool) -> Iterator[None]:
        from aws_xray_sdk.core.models.subsegment import Subsegment
        from aws_xray_sdk.core.utils import stacktrace

        parent = self._recorder.get_trace_entity()
        if not getattr(parent, "sampled", False):
            # Not sampled, or no trace header (Lambda's init phase): a dummy, nothing to send.
            yield
            return
        segment = parent.parent_segment if isinstance(parent, Subsegment) else parent
        # Named by dependency, so that X-Ray's map has one node per remote dependency; the
        # operation is an annotation, so traces can be searched by it.
        subsegment = Subsegment(dependency, "remote" if remote else "local", segment)
        subsegment.parent_id = parent.id
        subsegment.put_annotation("operation", operation)
        subsegment.put_metadata("keys", keys, "cache-service")
        try:
            yield
        except Exception as exc:
            limit = self._recorder.max_trace_back
            subsegment.add_exception(exc, stacktrace.get_stacktrace(limit=limit))
            raise
        except BaseException:
            # Cut off, by the request's deadline (a 504) or at shutdown: not a success.
            subsegment.add_fault_flag()
            subsegment.put_metadata("cancelled", True, "cache-service")
            raise
        finally:
            subsegment.close()
            self._recorder.emitter.send_entity(subsegment)


def tracing_enabled() -> bool:
    """Whether to trace, decided as Powertools' Tracer decides it (so it can stay unimported).

    On in a Lambda execution environment unless ``POWERTOOLS_TRACE_DISABLED`` is true; off
    under SAM's local emulator and Chalice's, where no X-Ray daemon listens. A value that is
    neither true nor false turns tracing off and says so (Powertools would raise, and fail
    every invocation).
    """
    if not os.environ.get("LAMBDA_TASK_ROOT"):
        return False
    if os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"):
        return False
    value = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false")
    try:
        return not strtobool(value)  # Powertools' own parser of that variable
    except ValueError:
        log.warning("POWERTOOLS_TRACE_DISABLED=%r is neither true nor false: not tracing", value)
        return False


class LambdaObservability:
    """Logs, metrics and traces around each invocation; built once per execution environment."""

    def __init__(self) -> None:
        self._service = os.environ.get("POWERTOOLS_SERVICE_NAME", DEFAULT_SERVICE)
        self._namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
        level = os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO")
        self.logs = JsonLogs(service=self._service, level=level)
        self.emf: EmfExport | None = None
        # As Powertools counts it: an environment that provisioned concurrency initialised
        # ahead of time serves its first invocation warm.
        self._cold = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"
        self._tracer: Tracer | None = None
        if tracing_enabled():
            from aws_lambda_powertools import Tracer

            # Nothing patched here: httpx and sqlite3 calls would open subsegments on the
            # shared per-thread stack (see XRaySpans); botocore is patched in ``spans``.
            self._tracer = Tracer(service=self._service, disabled=False, auto_patch=False)

    def spans(self, settings: Settings) -> XRaySpans | None:
        """The spans the app's ports report to, or None when tracing is off."""
        if self._tracer is None:
            return None
        if settings.store is StoreKind.DYNAMODB:
            # Each DynamoDB request (retries included) as an ``aws`` subsegment with its
            # operation and table. botocore runs in worker threads, each with its own stack.
            self._tracer.patch(["botocore"])
        return XRaySpans(self._tracer.provider)

    def count(self, metrics: Metrics) -> None:
        """Export what ``metrics`` counts, and the access lines of what the app answers (not
        called when the settings are invalid)."""
        self.emf = EmfExport(metrics, namespace=self._namespace, service=self._service)
        self.logs.write_access_lines()

    def invoke(
        self,
        call: Callable[[dict[str, Any], Any], dict[str, Any]],
        event: dict[str, Any],
        context: Any,
    ) -> dict[str, Any]:
        cold, self._cold = self._cold, False
        self.logs.start(event, context, cold_start=cold)
        try:
            if self._tracer is None:
                return call(event, context)
            # The annotations Powertools' capture_lambda_handler adds, under a fixed name, and
            # without the response: a whole payload, far over a segment's 64 kB.
            with self._tracer.provider.in_subsegment("## handler") as subsegment:
                subsegment.put_annotation("ColdStart", cold)
                subsegment.put_annotation("Service", self._service)
                return call(event, context)
        finally:
            self._write(cold)

    def _write(self, cold: bool) -> None:
        """The invocation's access lines and EMF documents, in one write to stdout."""
        if self.emf is None:
            return
        served = self.emf.tally.take_served()
        lines = [line for answer in served if (line := self.logs.access_line(answer))]
        lines += self.emf.lines(cold_start=cold)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")

    def close(self) -> None:
        self.logs.close()
