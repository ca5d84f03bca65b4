"""``cache-service warm FILE --queue URL`` against moto's SQS: what is sent, and what is said."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from cache_service.__main__ import main
from cache_service.settings import Settings
from cache_service.warming.enqueue import Enqueuer, region_of
from cache_service.warming.lines import Line, LineJudge
from tests.support.moto_process import take_all


def body(i: int) -> str:
    return json.dumps({"list_1": [f"string {i}"], "list_2": [f"other {i}"]})


class Recording:
    """An SQS client that passes each call on and keeps its entries."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[list[dict[str, str]]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:  # noqa: N803
        self.calls.append(Entries)
        return self.client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def report(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_valid_lines_are_queued_and_invalid_ones_reported_not_sent(
    sqs: Any, queue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [body(1), "not json", body(2), '{"list_1": ["a"]}', body(3)]
    path = tmp_path / "payloads.jsonl"
    path.write_text("\n".join(lines) + "\n")

    code = main(["warm", str(path), "--queue", queue])

    printed = capsys.readouterr()
    statuses = {r["line"]: r["status"] for r in report(printed.out)}
    assert statuses == {1: "queued", 2: "invalid", 3: "queued", 4: "invalid", 5: "queued"}
    assert code == 1
    assert json.loads(printed.err)["summary"]["queued"] == 3
    sent = [line for m in take_all(sqs, queue) for line in m["Body"].splitlines()]
    assert sorted(sent) == sorted([body(1), body(2), body(3)])


def test_a_file_of_valid_lines_exits_0_and_names_each_lines_message(
    sqs: Any, queue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "payloads.jsonl"
    path.write_text("".join(body(i) + "\n" for i in range(5)))

    assert main(["warm", str(path), "--queue", queue]) == 0

    records = report(capsys.readouterr().out)
    messages = {m["MessageId"]: m["Body"].splitlines() for m in take_all(sqs, queue)}
    for record in records:
        assert messages[record["message"]][record["message_line"] - 1] == body(record["line"] - 1)


async def test_messages_and_calls_stay_within_sqs_limits(sqs: Any, queue: str) -> None:
    limit = 400  # bytes per message and per call, scaled down from SQS's 262,144
    recording = Recording(sqs)
    out = io.StringIO()
    enqueuer = Enqueuer(recording, queue, out=out, max_message_bytes=limit)
    judge = LineJudge.for_settings(Settings())
    texts = {i: (body(i) + "\n").encode() for i in range(1, 61)}
    judged = [judge.judge(Line(i, text)) for i, text in texts.items()]

    await enqueuer.add(judged, texts)
    tally = await enqueuer.finish()

    assert (tally.queued, tally.failed) == (60, 0)
    assert recording.calls
    for entries in recording.calls:
        assert len(entries) <= 10
        assert sum(len(e["MessageBody"].encode()) for e in entries) <= limit
    sent = sorted(line for m in take_all(sqs, queue) for line in m["Body"].splitlines())
    assert sent == sorted(body(i) for i in range(1, 61))


async def test_a_line_larger_than_a_message_is_reported_invalid(sqs: Any, queue: str) -> None:
    out = io.StringIO()
    enqueuer = Enqueuer(sqs, queue, out=out, max_message_bytes=40)
    judge = LineJudge.for_settings(Settings())
    text = (body(1) + "\n").encode()

    await enqueuer.add([judge.judge(Line(1, text))], {1: text})
    tally = await enqueuer.finish()

    assert (tally.invalid, tally.calls) == (1, 0)
    (record,) = report(out.getvalue())
    assert "more than an SQS message holds" in record["error"]


def test_a_queue_that_does_not_exist_fails_every_line(
    sqs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "payloads.jsonl"
    path.write_text(body(1) + "\n" + body(2) + "\n")
    url = f"{sqs.meta.endpoint_url}/123456789012/no-such-queue"

    code = main(["warm", str(path), "--queue", url])

    records = report(capsys.readouterr().out)
    assert code == 1
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("NonExistentQueue" in r["error"] for r in records)


def test_a_queue_name_instead_of_a_url_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "payloads.jsonl"
    path.write_text(body(1) + "\n")
    assert main(["warm", str(path), "--queue", "my-queue"]) == 2
    assert "--queue takes the queue's URL" in capsys.readouterr().err


def test_the_region_comes_from_the_queue_url() -> None:
    assert region_of("https://sqs.eu-west-1.amazonaws.com/123456789012/q") == "eu-west-1"
    assert region_of("http://127.0.0.1:5000/123456789012/q") is None
