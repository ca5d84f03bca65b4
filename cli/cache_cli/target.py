"""Where requests go: the base URL, split once into what a connection and a request need."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .errors import UsageError

_DEFAULT_PORTS = {"http": 80, "https": 443}
# user:password@ or token@ right after the scheme, in any text (error messages included).
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*)(?P<secret>:[^/@\s]*)?@"
)
REDACTED = "xxxxx"


def redact(text: str) -> str:
    """``text`` with every URL's password (or lone user token) replaced by ``xxxxx``."""

    def hide(match: re.Match[str]) -> str:
        if match["secret"] is None:  # A lone user name is often a token: hide it too.
            return f"{match['scheme']}{REDACTED}@"
        return f"{match['scheme']}{match['user']}:{REDACTED}@"

    return _USERINFO.sub(hide, text)


@dataclass(frozen=True)
class Target:
    """A base URL: scheme, host, port and a path prefix (an API Gateway stage) kept as is."""

    scheme: str
    host: str
    port: int
    prefix: str
    authority: str
    basic_auth: str | None
    shown: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """Raise ``UsageError`` (naming the URL with its password hidden) unless it is usable."""
        shown = redact(url.rstrip("/"))
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UsageError(f"invalid URL {shown!r}: {error}") from None
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise UsageError(f"invalid URL {shown!r}: expected http(s)://host[:port][/path]")
        if parts.query or parts.fragment:
            raise UsageError(f"invalid URL {shown!r}: a base URL takes no query or fragment")
        host = parts.hostname
        default = _DEFAULT_PORTS[parts.scheme]
        name = f"[{host}]" if ":" in host else host
        authority = name if port in (None, default) else f"{name}:{port}"
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(
            scheme=parts.scheme,
            host=host,
            port=port or default,
            prefix=parts.path.rstrip("/"),
            authority=authority,
            basic_auth=auth,
            shown=shown,
        )

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def payload_path(self) -> str:
        """Where payloads are POSTed; the base URL's path (an API Gateway stage) is kept."""
        return f"{self.prefix}/payload"

    def item_path(self, payload_id: str) -> str:
        """Where one stored result is read back."""
        return f"{self.prefix}/payload/{payload_id}"
