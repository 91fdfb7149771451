"""``planwire demo`` runs the whole story by itself and every delivery verifies."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.devx.conftest import Spawned, planwire_command


@pytest.mark.slow
def test_demo_runs_the_story_and_ends_by_itself() -> None:
    with Spawned(planwire_command("demo", "--pause", "0")) as process:
        assert process.process.wait(timeout=240) == 0
        process.stop()
    output = "\n".join(process.lines)
    assert "Planwire on http://127.0.0.1:" in output
    for expected in (
        "project.created",
        "project.started",
        "task.ready",
        "task.completed",
        "milestone.achieved",
        "project.early_warning",
        "task.red",
    ):
        assert re.search(rf"^✓ \S+  {re.escape(expected)}  exepron  delivery ", output, re.M), (
            expected
        )
    assert "✗" not in output  # nothing refused
    assert '"warningLevel": "yellow"' in output  # the early warning's body, printed in full
    verified = re.search(r"^(\d+) deliveries verified\.", output, re.M)
    assert verified and int(verified.group(1)) > 100


def test_demo_keeps_running_until_interrupted() -> None:
    with Spawned(planwire_command("demo", "--pause", "0", "--no-bodies", "--keep-running")) as p:
        p.wait_for(lambda line: line.startswith("Still running on http://127.0.0.1:"), 240)
        assert p.process.poll() is None
        p.process.send_signal(signal.SIGINT)
        assert p.process.wait(timeout=60) == 0
        folder = re.search(r"database in (\S+) with", "\n".join(p.lines))
        assert folder
    p.stop()
    assert "demo stopped" in p.lines
    assert not Path(folder.group(1)).exists()  # the throwaway database is gone
