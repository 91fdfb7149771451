"""A Planwire webhook receiver in Flask, for all three wire formats.

    pip install flask planwire          # planwire only for planwire.verify (no server needed)
    WEBHOOK_SECRET=... python flask_receiver.py

Register one webhook per format (or only the one you use) pointing at

    http://YOUR-HOST:PORT/webhooks/trueppm    X-TruePPM-Signature: sha256=<hex>
    http://YOUR-HOST:PORT/webhooks/exepron    X-Exepron-Signature: <hex>
    http://YOUR-HOST:PORT/webhooks/standard   webhook-id / -timestamp / -signature (whsec_ secret)

with the secret in ``WEBHOOK_SECRET`` (or ``WEBHOOK_SECRET_TRUEPPM`` / ``_EXEPRON`` /
``_STANDARD`` to give each its own). What every handler does, in order:

1. verify the signature over the **raw body bytes** (``request.get_data()``), never over a
   re-serialized ``request.json``, with :mod:`planwire.verify` (constant-time);
2. answer 401 if it does not verify (Planwire does not retry a 4xx in the exepron and standard
   formats; trueppm retries every non-2xx);
3. skip a delivery already processed: ``X-Planwire-Delivery`` is the same on every retry and
   redelivery, so it is the idempotency key (deliveries are at least once, in no guaranteed
   order);
4. answer 2xx quickly and do the slow work elsewhere (a queue), so Planwire does not time out.

It prints one JSON line per request (``{"format", "event", "delivery", "verified",
"duplicate"}``) and lists what it verified at ``GET /received``. ``PORT`` picks the port
(default 5000; 0 takes any free port and prints ``{"listening": PORT}`` first).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any

from flask import Flask, Response, jsonify, request

from planwire.verify import verify_exepron, verify_standard, verify_trueppm

app = Flask(__name__)
received: list[dict[str, Any]] = []
processed: set[str] = set()  # use a database table with a unique key in production
lock = threading.Lock()


def secret_for(fmt: str) -> str:
    return os.environ.get(f"WEBHOOK_SECRET_{fmt.upper()}") or os.environ["WEBHOOK_SECRET"]


def verified(fmt: str, body: bytes) -> bool:
    secret = secret_for(fmt)
    if fmt == "trueppm":
        return verify_trueppm(secret, body, request.headers.get("X-TruePPM-Signature", ""))
    if fmt == "exepron":
        return verify_exepron(secret, body, request.headers.get("X-Exepron-Signature", ""))
    # Standard Webhooks: also refuses a webhook-timestamp more than 5 minutes off (replays).
    return verify_standard(secret, body, request.headers)


def report(line: dict[str, Any]) -> None:
    # One write per line: print() writes the text and the newline separately, so lines of
    # concurrent requests could interleave.
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


@app.post("/webhooks/<fmt>")
def webhook(fmt: str) -> tuple[Response, int]:
    if fmt not in ("trueppm", "exepron", "standard"):
        return jsonify(error="unknown format"), 404
    body = request.get_data()  # the raw bytes, before any JSON parsing
    delivery = request.headers.get("X-Planwire-Delivery", "")
    if not verified(fmt, body):
        report({"format": fmt, "delivery": delivery, "verified": False})
        return jsonify(error="invalid signature"), 401

    payload = json.loads(body)
    # trueppm and exepron name the event "event", Standard Webhooks "type".
    event = payload.get("event") or payload.get("type")
    with lock:
        duplicate = delivery in processed
        processed.add(delivery)
        entry = {"format": fmt, "event": event, "delivery": delivery, "verified": True}
        received.append({**entry, "duplicate": duplicate})
    report({**entry, "duplicate": duplicate})
    if not duplicate:
        handle(event, payload.get("data", {}))
    return jsonify(status="ok"), 200


def handle(event: str, data: dict[str, Any]) -> None:
    """Your business logic (better: put it on a queue and return)."""
    if event == "task.red":
        print(f"Task {data.get('taskName')} is in the red zone", file=sys.stderr)
    elif event == "project.early_warning":
        print(f"Project {data.get('projectName')}: early warning", file=sys.stderr)


@app.get("/received")
def list_received() -> Response:
    with lock:
        return jsonify(received)


if __name__ == "__main__":
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", int(os.environ.get("PORT", "5000")), app, threaded=True)
    report({"listening": server.server_port})
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
        server.serve_forever()
