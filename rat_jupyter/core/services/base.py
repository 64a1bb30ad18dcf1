"""What every service shares: its view of the workspace's parts, request parsing, and small argument checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import Invalid
from ..models import error_message
from ..names import validate_name, validate_namespace, validate_path

if TYPE_CHECKING:
    from ...stores.protocols import StateStore
    from ..composition import Storage
    from ..settings import Settings
    from ..workspace import Workspace

M = TypeVar("M", bound=BaseModel)


class Service:
    """A feature's room. Parts are read through the facade on every use (never copied), so they are built
    lazily and once, and replacing one on the workspace (a test's counting storage) reaches every service."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    @property
    def settings(self) -> Settings:
        return self.ws.settings

    @property
    def state(self) -> StateStore:
        return self.ws.state

    @property
    def storage(self) -> Storage:
        return self.ws.storage


def parse(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as a request model, or ``Invalid`` naming the field: what the REST layer does with a body,
    so a notebook's keyword call is validated exactly like the same request over HTTP."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(error_message(exc)) from None
    except RecursionError:
        raise Invalid("request body is nested too deeply") from None


def given(**values: Any) -> dict[str, Any]:
    """Keyword arguments left at ``None`` dropped: they mean "not given", as an absent JSON field does."""
    return {k: v for k, v in values.items() if v is not None}


def zone_key(namespace: object, zone: object) -> tuple[str, str]:
    return validate_namespace(namespace), validate_name(zone, "landing zone")


def run_id(value: str) -> str:
    if not isinstance(value, str) or not value.isalnum() or len(value) > 64:
        raise Invalid("invalid run id")
    return value


def safe_filename(filename: str) -> str:
    base = Path(str(filename).replace("\\", "/")).name
    if not base or base.startswith((".", "_")) or len(base) > 255:
        raise Invalid("invalid file name")
    validate_path(base)
    return base


def ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()
