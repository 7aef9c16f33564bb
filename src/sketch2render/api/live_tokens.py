"""Short-lived tokens of the live canvas: what the browser holds instead of a key.

The live canvas (`routes/live.py`) runs in the browser and talks to the API itself, signed in as
the person using it. A key must never be handed to a page (the UI's own key least of all), so the
API mints a token for a caller who proved who they are (a key, or a live token still valid):
the caller's principal name and role and an expiry, signed with HMAC-SHA256 under a secret made
when this process started. A token is accepted only on the live canvas's own routes (`/v1/live/`),
only until it expires, and only while its principal still has a key (a revoked key ends its
tokens at the next request). Restarting the API ends every token; the page then asks for a new one.
With the keys in a database (`S2R_DATABASE_URL`) every API process signs with one secret kept
there (`KeyRecords.token_secret`), so a token minted by one process is accepted by all (and
outlives a restart until it expires).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..principals import Principal, Role

TOKEN_PREFIX = "s2rlive."
TOKEN_TTL_S = 900.0  # a token lives this long; the page renews it well before
SCOPE_PREFIX = "/v1/live/"  # the only paths a token opens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class LiveToken:
    token: str
    principal: Principal
    expires_at: float


class LiveTokens:
    """Mints and checks live tokens; `still_known(name)` says whether a principal still has a key."""

    def __init__(
        self,
        still_known: Callable[[str], bool],
        *,
        ttl_s: float = TOKEN_TTL_S,
        clock: Callable[[], float] = time.time,
        secret: bytes | None = None,
    ) -> None:
        self._secret = secret or secrets.token_bytes(32)  # None: this process's own
        self._still_known = still_known
        self.ttl_s = ttl_s
        self._clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def mint(self, principal: Principal) -> LiveToken:
        expires = round(self._clock() + self.ttl_s, 3)
        payload = _b64(json.dumps({"n": principal.name, "r": principal.role.value, "e": expires}).encode())
        return LiveToken(f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}", principal, expires)

    def verify(self, token: str) -> Principal | None:
        """The token's principal; None when it is forged, expired, or its principal lost its key."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        payload, _, signature = token[len(TOKEN_PREFIX) :].partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            body = json.loads(_unb64(payload))
            principal = Principal(str(body["n"]), Role(body["r"]))
            expires = float(body["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= self._clock() or not self._still_known(principal.name):
            return None
        return principal

    @staticmethod
    def in_scope(path: str) -> bool:
        return path.startswith(SCOPE_PREFIX)
