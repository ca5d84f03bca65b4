"""The dashboard and the alarms on causes: one screen over every layer, naming only metrics
that exist; the service's own metric names checked against what the code emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cache_service.metrics import EMF_METRICS, NAMESPACE
from tests.infra.conftest import Synth

SERVICE = Path(__file__).resolve().parents[2] / "service" / "cache_service"
SEARCH = re.compile(r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\"")


def dashboard(stack: Synth) -> dict[str, Any]:
    ((_, resource),) = stack.resources("AWS::CloudWatch::Dashboard").items()
    body = resource["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(part if isinstance(part, str) else "REF" for part in parts)
    document: dict[str, Any] = json.loads(text)
    return document


def widgets(stack: Synth) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dashboard(stack)["widgets"]
    return found


def service_metrics(stack: Synth) -> list[tuple[str, tuple[str, ...]]]:
    """(metric name, dimension names) of every SEARCH over the service's own namespace."""
    found = []
    for widget in widgets(stack):
        for line in widget["properties"].get("metrics", []):
            for item in line:
                if isinstance(item, dict) and "expression" in item:
                    for dims, name in SEARCH.findall(item["expression"]):
                        namespace, *dimensions = dims.split(",")
                        assert namespace == NAMESPACE
                        found.append((name, tuple(dimensions)))
    return found


def test_one_dashboard_covers_api_lambda_service_dynamodb_and_elasticache(stack: Synth) -> None:
    titles = [w["properties"]["title"] for w in widgets(stack)]
    for layer in ("API:", "Lambda:", "Service:", "DynamoDB:", "ElastiCache:"):
        assert any(title.startswith(layer) for title in titles), layer
    assert all(w["y"] < 24 for w in widgets(stack))  # one screen: four rows of six


def test_every_service_metric_on_it_is_one_the_code_exports_with_its_dimensions(
    stack: Synth,
) -> None:
    shown = service_metrics(stack)
    for name, dimensions in shown:
        assert name in EMF_METRICS, name
        assert dimensions == ("service", *EMF_METRICS[name]), name
    assert {name for name, _ in shown} == set(EMF_METRICS)


def test_the_metrics_the_code_counts_are_the_ones_declared() -> None:
    counted = set()
    for path in SERVICE.rglob("*.py"):
        counted |= set(re.findall(r'tally\.(?:add|observe)\(\s*"(\w+)"', path.read_text()))
        counted |= set(re.findall(r'counts\[\("(\w+)", \(\)\)\]', path.read_text()))
    assert counted == set(EMF_METRICS)


def test_aws_metrics_on_it_name_the_stacks_resources(stack: Synth) -> None:
    namespaces = set()
    for widget in widgets(stack):
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], str) and line[0].startswith("AWS/"):
                namespaces.add(line[0])
    assert namespaces == {"AWS/ApiGateway", "AWS/Lambda", "AWS/DynamoDB", "AWS/ElastiCache"}
    queries = [w for w in widgets(stack) if w["type"] == "log"]
    assert ["record.metrics.initDurationMs" in w["properties"]["query"] for w in queries] == [True]


def _alarm(stack: Synth, name: str) -> dict[str, Any]:
    (alarm,) = [
        r["Properties"]
        for key, r in stack.resources("AWS::CloudWatch::Alarm").items()
        if key.startswith(f"Alarms{name}")
    ]
    return dict(alarm)


def test_throttled_tiers_raise_alarms(stack: Synth) -> None:
    cache = _alarm(stack, "CacheThrottles")
    assert cache["MetricName"] == "ThrottledCmds"
    assert cache["Namespace"] == "AWS/ElastiCache"
    table = _alarm(stack, "TableThrottles")
    names = {m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in table["Metrics"]}
    assert "ThrottledRequests" in names
    assert (cache["Threshold"], table["Threshold"]) == (0, 0)


def test_a_cache_nearing_its_storage_cap_raises_an_alarm_before_it_evicts(
    stack: Synth, variant: Synth
) -> None:
    alarm = _alarm(stack, "CacheNearlyFull")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ElastiCache", "BytesUsedForCache")
    assert alarm["Statistic"] == "Maximum"
    (dimension,) = alarm["Dimensions"]
    assert dimension["Name"] == "clusterId"
    # 80 % of the cap the stack gives the cache (5 GB unless cache_max_data_gb says otherwise).
    (cache,) = stack.resources("AWS::ElastiCache::ServerlessCache").values()
    cap = cache["Properties"]["CacheUsageLimits"]["DataStorage"]
    assert (cap["Maximum"], cap["Unit"]) == (5, "GB")
    assert alarm["Threshold"] == 0.8 * 5 * 10**9
    assert _alarm(variant, "CacheNearlyFull")["Threshold"] == 0.8 * 20 * 10**9
    assert alarm["EvaluationPeriods"] == 3


def test_a_failing_transformer_raises_an_alarm_on_its_error_rate(stack: Synth) -> None:
    alarm = _alarm(stack, "TransformerErrorRate")
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert {(s["Namespace"], s["MetricName"]) for s in stats} == {(NAMESPACE, "TransformerCalls")}
    outcomes = {d["Value"] for s in stats for d in s["Dimensions"] if d["Name"] == "outcome"}
    assert outcomes == {"error", "ok"}
    assert alarm["Threshold"] == 5
    assert alarm["TreatMissingData"] == "notBreaching"
