"""The guides and examples link to files that exist, and the commands they show exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planwire.cli import app
from tests.devx.conftest import ROOT

DOCS = [
    ROOT / "docs" / "receiving-webhooks.md",
    ROOT / "docs" / "running-at-scale.md",
    ROOT / "examples" / "receivers" / "README.md",
    ROOT / "examples" / "plans" / "README.md",
    ROOT / "README.md",
]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    for target in LINK.findall(doc.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (doc.parent / target).exists(), f"{doc}: broken link {target}"


@pytest.mark.parametrize(
    "command",
    [
        ["import", "--help"],
        ["listen", "--help"],
        ["demo", "--help"],
        ["webhooks", "list", "--help"],
        ["webhooks", "test", "--help"],
        ["webhooks", "redeliver", "--help"],
        ["webhooks", "logs", "--help"],
    ],
)
def test_documented_commands_exist(command: list[str]) -> None:
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
