"""PTB's HTTP transport on aiohttp instead of httpx: the same ``BaseRequest`` contract, a fraction
of the CPU per call.

Measured (docs/performance.md, "HTTP client"): 3,000 ``sendMessage`` POSTs, 16 in flight, to a
local server in another process: httpx 1,275 µs of client CPU per request, aiohttp 87 µs. httpx's
connection pool looks at every connection for every waiting request (the bot used to split it
into shards of eight to keep that down); aiohttp's connector does not. python-telegram-bot lets
an application bring its own :class:`~telegram.request.BaseRequest`; this is one, and everything
above it (``Bot``, the rate limiter, retries in :mod:`bot.tg.transport`) is unchanged.

Errors come out as PTB's: :class:`~telegram.error.TimedOut` for a timeout and
:class:`~telegram.error.NetworkError` for any other failure, the aiohttp exception kept as the
``__cause__`` (so :func:`bot.tg.transport.may_repeat` can tell "never sent" from "maybe sent").
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A :class:`~telegram.request.BaseRequest` over one ``aiohttp.ClientSession``."""

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read

    async def initialize(self) -> None:
        """Opens the session (idempotent)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # The Bot API answers JSON; nothing here reads cookies or follows redirects.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        """Closes the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See :meth:`telegram.request.BaseRequest.do_request`."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        params = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write = self._write if not files else self._media_write
        else:
            write = write_timeout
        # aiohttp's ``connect`` covers waiting for a free connection and opening a new one; a
        # request whose body takes long to write is bounded by the read timeout after it.
        waiting = None if connect is None and pool is None else (connect or 0) + (pool or 0)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=waiting,
            sock_connect=connect,
            sock_read=None if read is None and write is None else max(read or 0, write or 0),
        )
        data: Any = _form(params, files) if files else params
        try:
            async with session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _form(params: dict[str, str] | None, files: dict[str, Any]) -> aiohttp.FormData:
    """A multipart body: the JSON-encoded parameters as fields, then the files."""
    form = aiohttp.FormData()
    for name, value in (params or {}).items():
        form.add_field(name, value)
    for name, part in files.items():
        if isinstance(part, tuple):
            filename, content, *rest = part
            form.add_field(name, content, filename=filename, content_type=rest[0] if rest else None)
        else:
            form.add_field(name, part)
    return form
