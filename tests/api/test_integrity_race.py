"""A uniqueness race that slips past a service's check is a 409, never a 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from planwire.errors import install_error_handlers


def test_integrity_error_is_a_409() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/race")
    def race() -> None:
        raise IntegrityError("INSERT INTO users …", {}, Exception("UNIQUE constraint failed"))

    with TestClient(app) as client:
        response = client.post("/race")
    assert response.status_code == 409
    assert "conflicts" in response.json()["detail"]
