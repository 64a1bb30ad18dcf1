"""A stable identity for requests authenticated with the server's token.

Jupyter's default ``IdentityProvider`` cannot tell who holds the shared token, so for every token request
without a login cookie (every API client: curl, the kernels, the scheduler's callers) it invents a new random
"Anonymous <moon>" user with a new id. The audit log and run records then name a different user on every
request. The token belongs to whoever started the server, so its requests are that account; the name is
the same for every request and across restarts. Other identity providers (JupyterHub, a password, a custom
class) are left alone: they know their users.
"""

from __future__ import annotations

import getpass
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider, User


def server_account() -> str:
    try:
        return getpass.getuser() or "jupyter"
    except (KeyError, OSError):  # no passwd entry (containers with an arbitrary uid)
        return "jupyter"


class StableTokenUser:
    """The token's user is the server's account instead of a random one."""

    def generate_anonymous_user(self, handler: Any) -> User:
        name = server_account()
        return User(username=name, name=name, display_name=name, initials=name[:1].upper() or None)


class RatIdentityProvider(StableTokenUser, PasswordIdentityProvider):
    """Jupyter's default provider (token or password) with a stable token user."""


class RatTokenIdentityProvider(StableTokenUser, IdentityProvider):
    """The plain token provider with a stable token user."""


_REPLACEMENTS: dict[type, type] = {PasswordIdentityProvider: RatIdentityProvider,
                                   IdentityProvider: RatTokenIdentityProvider}


def install(serverapp: Any) -> bool:
    """Give the server's default identity provider a stable token user. The instance keeps its identity (its
    token, its configuration, and the references the authorizer and the web application hold), only its class
    changes; a provider someone configured is never replaced. Returns whether it changed."""
    provider = getattr(serverapp, "identity_provider", None)
    replacement = _REPLACEMENTS.get(type(provider))
    if replacement is None:
        return False
    provider.__class__ = replacement
    return True
