"""Policy checks on the synthesized template: cdk-nag AwsSolutions and cfn-lint."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infra.conftest import Synth

REGIONS = ["us-east-1", "eu-west-1"]


def _nag(stack: Synth) -> dict[str, object]:
    (report,) = [r for r in stack.report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    return report  # type: ignore[no-any-return]


def test_cdk_nag_aws_solutions_finds_nothing_unacknowledged(stack: Synth) -> None:
    report = _nag(stack)
    assert report["violations"] == []
    assert report["conclusion"] == "success"


def test_every_acknowledged_nag_finding_has_a_written_reason(stack: Synth) -> None:
    suppressed = _nag(stack)["suppressedViolations"]
    assert isinstance(suppressed, list)
    assert suppressed, "expected the known acknowledgements (public API, managed policies)"
    for finding in suppressed:
        assert len(finding["reason"]) > 60, finding["ruleName"]


def test_only_the_expected_nag_rules_are_acknowledged(stack: Synth) -> None:
    suppressed = _nag(stack)["suppressedViolations"]
    assert isinstance(suppressed, list)
    rules = {finding["ruleName"].split("[")[0] for finding in suppressed}
    assert rules == {
        "AwsSolutions-APIG2",
        "AwsSolutions-APIG3",
        "AwsSolutions-APIG4",
        "AwsSolutions-COG4",
        "AwsSolutions-IAM4",
        "AwsSolutions-IAM5",
        "AwsSolutions-L1",
    }


def test_the_variant_stack_also_passes_cdk_nag(variant: Synth) -> None:
    assert _nag(variant)["violations"] == []


def _errors(template: Path) -> list[str]:
    matches = lint_file(template, ManualArgs(regions=REGIONS))
    return [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]


def test_cfn_lint_finds_no_error_in_the_synthesized_template(stack: Synth) -> None:
    assert _errors(stack.path) == []


def test_cfn_lint_finds_no_error_in_the_variant_template(variant: Synth) -> None:
    assert _errors(variant.path) == []
