# SPDX-License-Identifier: Apache-2.0
"""URLs safe to print, log and write to an audit log (pure; every layer uses this one rule)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """A printable form of ``url``: credentials, API-key paths and queries replaced by ``***``.

    Hosted node providers put API keys in the path (``/v2/KEY``) or the query, and a bare
    ``TOKEN@host`` is as secret as ``user:password@host``; only Bitcoin Core's ``/wallet/NAME``
    path is kept, because it helps to know which wallet a message is about.

    >>> redact_url("http://user:secret@127.0.0.1:8332/wallet/miner")
    'http://***@127.0.0.1:8332/wallet/miner'
    >>> redact_url("bolt://[::1]:7687")
    'bolt://[::1]:7687'
    >>> redact_url("https://eth.example/v2/APIKEY?token=x")
    'https://eth.example/***?***'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # IPv6 literal
        netloc = ("***@" if parts.username is not None else "") + host + (f":{parts.port}" if parts.port else "")
        path = parts.path
        if path not in ("", "/") and not (path.startswith("/wallet/") and path.count("/") == 2):
            path = "/***"
        return urlunsplit((parts.scheme, netloc, path, "***" if parts.query else "", ""))
    except ValueError:
        return "<unparseable URL>"
