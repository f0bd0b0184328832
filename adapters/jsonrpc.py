# SPDX-License-Identifier: Apache-2.0
"""A small JSON-RPC-over-HTTP client shared by the Bitcoin Core and Ethereum adapters.

* Batch requests carry unique ids and replies are matched **by id**, never by position
  (bitcoin-etl pairs them by position; a node may reorder a batch).
* Numbers in replies are parsed as :class:`decimal.Decimal`, so ``0.1`` BTC stays exact.
* Only transient failures are retried (connection refused or reset, timeouts, HTTP 502/503/504,
  Bitcoin Core's "work queue depth exceeded"), with bounded exponential backoff and jitter.
* Credentials are taken out of the URL and never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from adapters.errors import MalformedResponseError, NodeAuthError, NodeUnavailableError, RpcError
from tracer.errors import InputError
from tracer.redaction import redact_url

__all__ = ["Call", "JsonRpcClient", "redact_url", "split_credentials"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class Call:
    """One JSON-RPC call: method name and positional parameters."""

    method: str
    params: Sequence[Any] = ()


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Remove ``user:password@`` from ``url``; return the clean URL and the credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"node URL {redact_url(url)!r} must look like http://host:port")
    if parts.username is None:
        return url, None
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (parts.username, parts.password or "")


class JsonRpcClient:
    """Synchronous JSON-RPC client with batching, timeouts and bounded retries.

    Parameters
    ----------
    url
        ``http://[user:password@]host:port[/path]``. Credentials in the URL are moved into the
        request's basic-auth header and removed from every message.
    auth
        ``(user, password)``; overrides credentials in the URL.
    cookie_file
        Bitcoin Core ``.cookie`` file (``__cookie__:secret``), read at construction.
    timeout
        Seconds to wait for connect and for each response.
    retries
        How many times a transient failure is retried (so ``retries + 1`` attempts).
    """

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        cookie_file: str | Path | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        jsonrpc: str = "2.0",
    ) -> None:
        clean, url_auth = split_credentials(url)
        self._endpoint = clean  # may hold an API key in its path: only used for requests
        self.url = redact_url(clean)  # what messages show
        self._auth = auth or url_auth
        if cookie_file is not None:
            self._auth = _read_cookie(Path(cookie_file))
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.jsonrpc = jsonrpc
        self._ids = itertools.count(1)
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"JsonRpcClient({self.url!r})"

    def clone(self) -> JsonRpcClient:
        """A client for the same endpoint and credentials with its own HTTP session (for another thread)."""
        twin = JsonRpcClient.__new__(JsonRpcClient)
        twin.__dict__.update(self.__dict__)
        twin._ids = itertools.count(1)
        twin._session = requests.Session()
        return twin

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> JsonRpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------
    def call(self, method: str, *params: Any, retry: bool = True) -> Any:
        """Call one method and return its ``result``; raise :class:`RpcError` on an error reply."""
        request_id = next(self._ids)
        payload = {"jsonrpc": self.jsonrpc, "id": request_id, "method": method, "params": list(params)}
        reply = self._post(payload, what=method, retry=retry)
        if not isinstance(reply, dict):
            raise MalformedResponseError(f"{self.url}: {method} returned {type(reply).__name__}, not an object")
        return self._result(reply, method)

    def batch(self, calls: Sequence[Call], *, retry: bool = True) -> list[Any]:
        """Send ``calls`` as one JSON-RPC batch and return their results in the order given.

        Raises :class:`RpcError` for the first call (in the given order) that failed.
        """
        results = self.batch_outcomes(calls, retry=retry)
        for outcome in results:
            if isinstance(outcome, RpcError):
                raise outcome
        return results

    def batch_outcomes(self, calls: Sequence[Call], *, retry: bool = True) -> list[Any]:
        """Like :meth:`batch` but return an :class:`RpcError` in place of each failed result."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": self.jsonrpc, "id": i, "method": c.method, "params": list(c.params)}
            for i, c in zip(ids, calls, strict=True)
        ]
        what = f"batch of {len(calls)} ({calls[0].method}{', ...' if len(calls) > 1 else ''})"
        reply = self._post(payload, what=what, retry=retry)
        if not isinstance(reply, list):
            if isinstance(reply, dict) and reply.get("error"):
                raise self._error(reply["error"], what)
            raise MalformedResponseError(f"{self.url}: {what} did not return a JSON array")
        by_id: dict[Any, dict[str, Any]] = {}
        for item in reply:
            if isinstance(item, dict) and "id" in item:
                by_id[item["id"]] = item
        outcomes: list[Any] = []
        for request_id, call in zip(ids, calls, strict=True):
            item = by_id.get(request_id)
            if item is None:
                raise MalformedResponseError(f"{self.url}: no reply to {call.method} (id {request_id}) in batch")
            error = item.get("error")
            outcomes.append(self._error(error, call.method) if error else item.get("result"))
        return outcomes

    # -- transport -------------------------------------------------------------------------
    def _post(self, payload: Any, *, what: str, retry: bool) -> Any:
        body = json.dumps(payload, default=_json_default)
        attempts = self.retries + 1 if retry else 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 2)  # noqa: S311
                log.info("retrying %s on %s in %.2fs after: %s", what, self.url, delay, last)
                time.sleep(delay)
            try:
                response = self._session.post(
                    self._endpoint,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    auth=self._auth,
                    timeout=self.timeout,
                )
            except requests.Timeout:
                last = NodeUnavailableError(f"{self.url}: {what} timed out after {self.timeout:g}s")
                continue
            except requests.ConnectionError:
                last = NodeUnavailableError(f"{self.url}: cannot connect (is the node running?) during {what}")
                continue
            if response.status_code in (401, 403):
                raise NodeAuthError(f"{self.url}: credentials refused (HTTP {response.status_code}) for {what}")
            if response.status_code in _RETRY_STATUS or b"Work queue depth exceeded" in response.content:
                last = NodeUnavailableError(f"{self.url}: node busy (HTTP {response.status_code}) during {what}")
                continue
            try:
                return json.loads(response.content, parse_float=Decimal)
            except ValueError:
                snippet = response.text[:200].strip()
                raise MalformedResponseError(
                    f"{self.url}: {what} answered HTTP {response.status_code} with non-JSON body: {snippet!r}"
                ) from None
        assert last is not None
        raise last

    def _result(self, reply: dict[str, Any], method: str) -> Any:
        error = reply.get("error")
        if error:
            raise self._error(error, method)
        if "result" not in reply:
            raise MalformedResponseError(f"{self.url}: {method} reply has neither result nor error")
        return reply["result"]

    def _error(self, error: Any, method: str) -> RpcError:
        if isinstance(error, dict):
            code = error.get("code")
            return RpcError(self.url, method, int(code) if isinstance(code, int | Decimal) else None,
                            str(error.get("message", error)))
        return RpcError(self.url, method, None, str(error))


def _read_cookie(path: Path) -> tuple[str, str]:
    try:
        user, _, secret = path.read_text().strip().partition(":")
    except OSError as exc:
        raise InputError(f"cannot read RPC cookie file {path}: {exc.strerror}") from None
    if not secret:
        raise InputError(f"RPC cookie file {path} is not of the form user:secret")
    return user, secret


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} in a JSON-RPC request")
