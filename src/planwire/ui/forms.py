"""From HTML forms to the API's input schemas, and their errors back to the form.

Forms send strings; empty fields mean "not given". The values are validated by the same Pydantic
schemas the JSON API uses, so the UI accepts exactly what the API accepts. A failure becomes a
:class:`FormProblem` that names the form, the message of each bad field and what was typed, so
the page is shown again with the messages beside the fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from planwire.errors import ApiError, field_path

Model = TypeVar("Model", bound=BaseModel)
_FIELD_PREFIX = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.DOTALL)


class FormProblem(Exception):
    """A form that cannot be accepted as sent."""

    def __init__(
        self,
        form: str,
        errors: dict[str, str],
        values: dict[str, Any],
        *,
        status_code: int = 422,
    ) -> None:
        super().__init__(next(iter(errors.values()), "invalid form"))
        self.form = form
        self.errors = errors
        self.values = values
        self.status_code = status_code

    @property
    def message(self) -> str:
        return "; ".join(
            message if field == "form" else f"{field.replace('_', ' ')}: {message}"
            for field, message in self.errors.items()
        )


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def values_of(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """What was typed in each named field (to show the form again)."""
    return {name: text(form, name) for name in names}


def given(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """The non-empty fields among ``names``."""
    return {name: value for name in names if (value := text(form, name))}


def validate(model: type[Model], data: dict[str, Any], form: str, values: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = field_path(error["loc"]).split(".")[0]
            if field in ("", "body"):  # a rule across fields: shown above the form
                field = "form"
            errors.setdefault(field, _clean(str(error["msg"])))
        raise FormProblem(form, errors, values) from None


def from_api_error(exc: ApiError, form: str, values: dict[str, Any]) -> FormProblem:
    """A service's refusal, put next to the field it names (``"field: message"``)."""
    match = _FIELD_PREFIX.match(exc.detail)
    if match and match.group(1).split(".")[0] in values:
        errors = {match.group(1).split(".")[0]: match.group(2)}
    else:
        errors = {"form": exc.detail}
    return FormProblem(form, errors, values, status_code=exc.status_code)


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")
