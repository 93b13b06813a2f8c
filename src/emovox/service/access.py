"""Who may use the service: an optional access token for the API and live streams, and which web
pages may call it (the service's own page by default).

- Token: `Authorization: Bearer TOKEN` on `/v1/*` requests; a live stream offers it as the
  WebSocket subprotocol `emovox.token.TOKEN` (a browser cannot set headers on a WebSocket, and
  a query string would land in access logs). Compared in constant time. Without it: 401, or
  the stream closed with 4401. The page reads it from its address's fragment (`/#token=...`,
  which browsers never send to a server).
- Origins: a browser names the page that makes a request in `Origin`. A request or stream from
  another page is refused (403, or close 4403) unless that origin is allowed (`--allow-origin`,
  which also answers CORS preflights for it). Clients that are not browsers send no `Origin`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from emovox.errors import ConfigError

TOKEN_PROTOCOL = "emovox.token."  # + the token: the WebSocket subprotocol that carries it
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
TOKEN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True)
class ServiceAccess:
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()  # besides the service's own

    def __post_init__(self) -> None:
        if self.token is not None and (len(self.token) < 16 or not set(self.token) <= TOKEN_CHARACTERS):
            raise ConfigError(
                "the access token must be at least 16 characters of A-Z a-z 0-9 - . _ ~ "
                "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ConfigError(f"an allowed origin is scheme://host[:port], got {origin!r}")
        object.__setattr__(self, "allowed_origins", tuple(o.rstrip("/") for o in self.allowed_origins))

    def token_matches(self, offered: str | None) -> bool:
        if self.token is None:
            return True
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def bearer_ok(self, headers: Mapping[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return self.token_matches(value.strip() if scheme.lower() == "bearer" else None)

    def stream_token(self, subprotocols: Iterable[str]) -> str | None:
        """The token a WebSocket client offered as a subprotocol, if any."""
        offered = [p[len(TOKEN_PROTOCOL) :] for p in subprotocols if p.startswith(TOKEN_PROTOCOL)]
        return offered[0] if offered else None

    def origin_ok(self, headers: Mapping[str, str], scheme: str) -> bool:
        """No Origin (not a browser), the service's own page, or an allowed one."""
        origin = headers.get("origin")
        if origin is None:
            return True
        return origin.rstrip("/") in self.allowed_origins or origin == f"{scheme}://{headers.get('host', '')}"
