"""Making asset URLs readable at read time: Planetary Computer SAS signing.

Planetary Computer assets live in Azure Blob Storage and are read with a SAS token
appended to the URL. Tokens last about an hour, so URLs are signed when a worker
opens the file, not when the search runs, and a read refused with HTTP 403 (token
expired or revoked) is signed again with a fresh token, once. Tokens come from the
``planetary-computer`` package (which caches them per storage container) and never
appear in geofeat's log lines or errors: :func:`redact` strips them.

The token endpoint is the package's (``PC_SDK_SAS_URL``, else Microsoft's); set
``GEOFEAT_PC_SAS_URL`` or call :func:`configure` to use another one (tests point it at
127.0.0.1). Hosts listed in ``path_style_hosts`` (an Azure Storage emulator, a test
server) take the account and container from the URL path, ``/account/container/...``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

BLOB_DOMAIN = ".blob.core.windows.net"
#: Query parameters of a SAS token; their values are secrets.
_SAS_PARAMS = re.compile(
    r"([?&](?:sig|se|st|sp|sv|sr|skoid|sktid|skt|ske|sks|skv|"
    r"token)=)[^&\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with the values of SAS token parameters replaced by ``REDACTED``."""
    return _SAS_PARAMS.sub(r"\1REDACTED", str(text))


class RedactTokens(logging.Filter):
    """A logging filter that removes SAS token values from every record.

    Libraries log signed URLs at DEBUG (rasterio names each dataset it opens);
    the CLI puts this filter on its handler so no token reaches a log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


@dataclass(frozen=True)
class SasSigner:
    """Signs Azure Blob Storage URLs with Planetary Computer SAS tokens."""

    name: str = "planetary-computer"
    token_url: str | None = None
    """Token endpoint; None means ``GEOFEAT_PC_SAS_URL``, then the package's."""
    path_style_hosts: tuple[str, ...] = field(default_factory=tuple)
    """``host:port`` values whose URLs read ``/account/container/blob``."""
    token_retries: int = 4
    """Retries of a token request (429, 5xx), with backoff from 0.5 s doubling."""

    def _container(self, href: str) -> tuple[str, str] | None:
        parts = urlsplit(href)
        if parts.netloc.endswith(BLOB_DOMAIN):
            account = parts.netloc.removesuffix(BLOB_DOMAIN)
            container = parts.path.lstrip("/").split("/", 1)[0]
            return account, container
        if parts.netloc in self.path_style_hosts:
            segments = parts.path.lstrip("/").split("/")
            if segments and segments[0] == "blob":  # the test server's prefix
                segments = segments[1:]
            if len(segments) >= 2:
                return segments[0], segments[1]
        return None

    def _token(self, account: str, container: str, refresh: bool):
        from planetary_computer import sas
        from planetary_computer.settings import Settings

        settings = Settings.get()
        global _PACKAGE_SAS_URL
        if _PACKAGE_SAS_URL is None:  # the package's own choice, before ours
            _PACKAGE_SAS_URL = settings.sas_url
        url = self.token_url or os.environ.get("GEOFEAT_PC_SAS_URL") or _PACKAGE_SAS_URL
        settings.sas_url = url.rstrip("/")
        if refresh:
            sas.TOKEN_CACHE.pop(f"{settings.sas_url}/{account}/{container}", None)
        try:
            return sas.get_token(
                account,
                container,
                retry_total=self.token_retries,
                retry_backoff_factor=0.5,
            )
        except Exception as err:  # requests and pydantic errors alike
            from geofeat.errors import ReadError

            raise ReadError(
                f"cannot get a SAS token for {account}/{container} from "
                f"{settings.sas_url}: {redact(err)}; check the network, set "
                "PC_SDK_SUBSCRIPTION_KEY if you have one, or retry later"
            ) from None

    def sign(self, href: str, refresh: bool = False) -> str:
        """``href`` with a SAS token; unchanged when it is not a blob URL.

        With ``refresh`` a new token is fetched even when one is cached.
        """
        container = self._container(href)
        if container is None:
            return href
        base = href.split("?", 1)[0]
        with _TOKEN_LOCK:
            token = self._token(*container, refresh=refresh)
        return f"{base}?{token.token}"


_TOKEN_LOCK = threading.Lock()
_PACKAGE_SAS_URL: str | None = None
SIGNERS: dict[str, SasSigner] = {"planetary-computer": SasSigner()}


def configure(name: str = "planetary-computer", **changes) -> SasSigner:
    """Change a signer's settings (``token_url``, ``path_style_hosts``)."""
    SIGNERS[name] = replace(SIGNERS[name], **changes)
    return SIGNERS[name]


def signer_for(name: str | None, href: str) -> SasSigner | None:
    """The signer an asset needs: the one named, else the one its URL calls for.

    Signing is decided by the URL, as tokens are per storage container: Azure Blob
    Storage URLs (and URLs on a signer's ``path_style_hosts``) are signed, others
    are read as they are.
    """
    if name is not None:
        if name not in SIGNERS:
            raise ValueError(f"unknown signer {name!r}; known: {sorted(SIGNERS)}")
        return SIGNERS[name]
    for candidate in SIGNERS.values():
        if candidate._container(href) is not None:
            return candidate
    return None


def is_forbidden(err: Exception) -> bool:
    """Whether a read error is an HTTP 403 (an expired or refused token)."""
    text = str(err)
    return "403" in text and ("HTTP" in text or "Forbidden" in text)


@contextlib.contextmanager
def open_signed(href: str, signer: str | None = None):
    """Open a raster with rasterio, signing its URL and re-signing once on 403.

    Yields the open dataset. Errors keep their type; their text has tokens removed.
    """
    import rasterio

    chosen = signer_for(signer, href)
    if chosen is None:
        with rasterio.open(href) as ds:
            yield ds
        return
    # A signed blob has no sidecar files, and listing its folder with the
    # file's token appended is refused: skip GDAL's directory listing.
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        try:
            ds = rasterio.open(chosen.sign(href))
        except rasterio.errors.RasterioIOError as err:
            if not is_forbidden(err):
                raise type(err)(redact(err)) from None
            logger.info(
                "read of %s refused (HTTP 403): signing again with a new token",
                href.split("?")[0],
            )
            try:
                ds = rasterio.open(chosen.sign(href, refresh=True))
            except rasterio.errors.RasterioIOError as again:
                raise type(again)(redact(again)) from None
        with ds:
            yield ds
