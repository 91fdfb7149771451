"""A Planwire webhook receiver in FastAPI, for all three wire formats.

    pip install fastapi uvicorn planwire      # planwire only for planwire.verify
    WEBHOOK_SECRET=... python fastapi_receiver.py

Same routes, environment and behaviour as ``flask_receiver.py`` (read its docstring): verify
the raw body (``await request.body()``) with :mod:`planwire.verify`, 401 when it does not
verify, skip duplicates by ``X-Planwire-Delivery``, answer 2xx fast. A dependency does the
verification, so a handler only ever sees verified deliveries.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request

from planwire.verify import verify_exepron, verify_standard, verify_trueppm

app = FastAPI(title="Planwire webhook receiver")
received: list[dict[str, Any]] = []
processed: set[str] = set()  # use a database table with a unique key in production


def report(line: dict[str, Any]) -> None:
    # One write per line: print() writes the text and the newline separately, so lines of
    # concurrent requests could interleave.
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def secret_for(fmt: str) -> str:
    return os.environ.get(f"WEBHOOK_SECRET_{fmt.upper()}") or os.environ["WEBHOOK_SECRET"]


async def verified_payload(fmt: str, request: Request) -> dict[str, Any]:
    """The parsed body of a delivery whose signature verifies; 401 otherwise."""
    if fmt not in ("trueppm", "exepron", "standard"):
        raise HTTPException(404, "unknown format")
    body = await request.body()  # raw bytes: verify before parsing
    secret = secret_for(fmt)
    headers = request.headers
    if fmt == "trueppm":
        ok = verify_trueppm(secret, body, headers.get("X-TruePPM-Signature", ""))
    elif fmt == "exepron":
        ok = verify_exepron(secret, body, headers.get("X-Exepron-Signature", ""))
    else:
        ok = verify_standard(secret, body, headers)
    if not ok:
        report({"format": fmt, "delivery": headers.get("X-Planwire-Delivery"), "verified": False})
        raise HTTPException(401, "invalid signature")
    payload: dict[str, Any] = json.loads(body)
    return payload


@app.post("/webhooks/{fmt}")
async def webhook(
    fmt: str, request: Request, payload: Annotated[dict[str, Any], Depends(verified_payload)]
) -> dict[str, str]:
    delivery = request.headers.get("X-Planwire-Delivery", "")
    event = payload.get("event") or payload.get("type")
    duplicate = delivery in processed
    processed.add(delivery)
    entry = {"format": fmt, "event": event, "delivery": delivery, "verified": True}
    received.append({**entry, "duplicate": duplicate})
    report({**entry, "duplicate": duplicate})
    if not duplicate:
        # Answer now, work later: Planwire waits at most its delivery timeout.
        asyncio.get_running_loop().call_soon(handle, event, payload.get("data", {}))
    return {"status": "ok"}


def handle(event: str, data: dict[str, Any]) -> None:
    """Your business logic."""


@app.get("/received")
async def list_received() -> list[dict[str, Any]]:
    return received


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", int(os.environ.get("PORT", "8000"))))
    sock.listen(128)  # connections queue from now on, before uvicorn starts accepting
    report({"listening": sock.getsockname()[1]})
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
