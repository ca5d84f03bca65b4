"""The names the README's "Deploy to AWS" section cites exist in the stack and the SAM template.

The context-key table is checked against ``ServiceConfig`` in ``test_readme.py``; this file
checks the outputs a reader looks for after ``cdk deploy``, the parameters they override in
``sam local start-api``, and the ``sam local`` command itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from cfnlint.decode import decode_str

from tests.infra.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SAM = ROOT / "template-local.yaml"


def deploy_section() -> str:
    """The section from its heading up to the next ``## `` heading (its ``###`` included)."""
    text = README.read_text()
    section = text[text.index("## Deploy to AWS") :]
    return section[: section.index("\n## ", 1)]


def sam_parameters() -> set[str]:
    template, errors = decode_str(SAM.read_text())
    assert not errors
    assert template is not None
    return set(template["Parameters"])


def test_every_output_of_the_stack_is_named_in_the_section(stack: Synth) -> None:
    # CDK adds ``ApiEndpoint<hash>`` for the RestApi by itself; the section mentions it as such.
    ours = {name for name in stack.json["Outputs"] if not name.startswith("ApiEndpoint")}
    assert ours, "the stack has outputs"
    named = set(re.findall(r"`([A-Za-z]+)`", deploy_section()))
    assert ours - named == set()


def test_the_sam_parameters_listed_are_the_template_parameters() -> None:
    listed = re.search(r"tiers as parameters \(([^)]*)\)", deploy_section())
    assert listed is not None, "the section lists the SAM template's parameters"
    assert set(re.findall(r"`([A-Za-z]+)`", listed.group(1))) == sam_parameters()


def test_every_parameter_override_in_the_section_exists() -> None:
    overrides = re.findall(r"--parameter-overrides ((?:[A-Za-z]+=\S*\s?)+)", deploy_section())
    assert overrides, "the section shows a --parameter-overrides example"
    names = {pair.split("=")[0] for group in overrides for pair in group.split()}
    assert names <= sam_parameters()


def test_sam_local_runs_the_built_template_not_the_source_one() -> None:
    # With an explicit -t, sam local reads that template and mounts its unbuilt paths: the
    # layer folder then holds only requirements.txt, and every import of the handler fails.
    commands = re.findall(r"sam local start-api[^\n]*", deploy_section())
    assert commands
    assert [c for c in commands if re.search(r"\s(-t|--template(-file)?)\s", c)] == []
