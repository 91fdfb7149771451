"""``planwire worker``: the delivery worker alone, as a separate process (scale-out)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from planwire.config import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.delivery.test_worker import (
    WAIT,
    add_webhook,
    deliveries_of,
    make_organization,
    record_events,
    wait_until,
)
from tests.support.receiver import Receiver

PLANWIRE = Path(sys.executable).with_name("planwire")


def test_planwire_worker_delivers_and_stops_gracefully_on_sigterm(
    settings: Settings, engine: Engine, receiver: Receiver, tmp_path: Path
) -> None:
    organization = make_organization(engine)
    add_webhook(engine, organization_id=organization, url=receiver.url("/hook"))
    env = {
        **os.environ,
        "PLANWIRE_DATABASE_URL": settings.database_url,
        "PLANWIRE_SECRET_KEY": TEST_SECRET_KEY,
        "PLANWIRE_ALLOW_PRIVATE_TARGETS": "true",
    }
    process = subprocess.Popen(
        [str(PLANWIRE), "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Committed by another process (this one): found by NOTIFY or the backstop poll.
        record_events(engine, organization, 3)
        requests = receiver.wait_for(3, WAIT)
        wait_until(
            lambda: all(row.status == "success" for row in deliveries_of(engine)),
            what="the deliveries to be recorded",
        )
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output.decode()
    assert b"delivery worker" in output and b"stopping" in output
    assert len({r.headers["X-Planwire-Delivery"] for r in requests}) == 3
