# SPDX-License-Identifier: Apache-2.0
"""Configuration: a TOML file overlaid by environment variables.

Where the file is looked for, first match wins:

1. ``$TRACER_CONFIG`` (an error if it names a file that does not exist);
2. ``$TRACER_HOME/config.toml``;
3. the user's config directory (``~/.config/tracer/config.toml`` on Linux).

Environment variables override the file: ``TRACER_HOME``, ``TRACER_STORE`` (``embedded`` or
``neo4j``), ``TRACER_STORE_PATH``, ``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``,
``NEO4J_DATABASE``, ``TRACER_NODE_<CHAIN>`` (e.g. ``TRACER_NODE_LTC_REGTEST`` for chain
``ltc-regtest``) and ``TRACER_ETHERSCAN_KEY`` (the ``[etherscan] key`` of an Etherscan-compatible
API). Secrets (the Neo4j password, passwords inside node URLs, the API key) are never printed:
:meth:`Settings.redacted` is the only view the CLI shows.

Example ``config.toml``::

    [store]
    backend = "embedded"

    [neo4j]
    uri = "bolt://127.0.0.1:7687"
    user = "neo4j"
    database = "neo4j"

    [nodes]
    btc = "http://rpcuser:rpcpass@127.0.0.1:8332"
    eth = "http://127.0.0.1:8545"

    [etherscan]           # used only with --etherscan URL and --allow-third-party
    key = "YOUR-API-KEY"

    [chains.bsc]          # an extra EVM chain, no code change needed
    chain_id = 56
    symbol = "BNB"

    [bridges.across.contracts]   # bridge contracts beyond the built-in mainnet ones (tracer/bridges.py)
    "56" = ["0x4e8E101924eDE233C13e2D8622DC8aED2872d505"]

    [conversions.weth]    # wrapped-native contracts (WETH9 Deposit/Withdrawal) per chain, beyond mainnet WETH9
    bsc = ["0xbb4CdB9CBd36B01bD1cBaEBF2De08d9173bc095c"]
    [conversions.factories]   # DEX factories whose pools' swaps are followed, beyond mainnet Uniswap/SushiSwap
    bsc = ["0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73"]
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import platformdirs

from adapters.evm.conversions import DEFAULT_WETH
from adapters.jsonrpc import redact_url
from jobs.addresses import normal_address
from tracer.bridges import BridgeRegistry, default_bridge_registry, parse_bridges_config
from tracer.chains import Chain, ChainRegistry, default_registry
from tracer.errors import ConfigError, InputError

__all__ = ["Settings", "load_settings", "STORE_BACKENDS"]

STORE_BACKENDS = ("embedded", "neo4j")
#: the tables of ``[conversions]``
CONVERSION_TABLES = ("weth", "factories")
#: Ethereum mainnet DEX factories: Uniswap V2, Uniswap V3, SushiSwap (their deployment addresses)
MAINNET_FACTORIES = ("0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f", "0x1F98431c8aD98523631AE4a59f267346ea31F984",
                     "0xC0AEe478e3658e2610c5F7A4A2E1777cE9e4f2Ac")
_KNOWN_SECTIONS = {"home", "store", "neo4j", "nodes", "esplora", "chains", "privacy", "etherscan", "bridges",
                   "conversions"}


@dataclass(frozen=True)
class Settings:
    """Effective configuration after file and environment are merged."""

    home: Path
    config_file: Path | None
    store_backend: str = "embedded"
    store_path: Path | None = None
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = field(default=None, repr=False)
    neo4j_database: str = "neo4j"
    nodes: Mapping[str, str] = field(default_factory=dict, repr=False)
    esplora: Mapping[str, str] = field(default_factory=dict, repr=False)
    allow_third_party: bool = False
    #: Etherscan-compatible API key (secret: never printed)
    etherscan_key: str | None = field(default=None, repr=False)
    chains: ChainRegistry = field(default_factory=default_registry, repr=False)
    #: bridge contracts per EIP-155 chain id (built-in mainnet ones plus the config's ``[bridges]``)
    bridges: BridgeRegistry = field(default_factory=default_bridge_registry, repr=False)
    #: chain key -> wrapped-native (WETH9-like) contracts configured under ``[conversions.weth]``
    weth: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: chain key -> DEX factories whose pools are conversion venues, under ``[conversions.factories]``
    factories: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @property
    def cases_dir(self) -> Path:
        return self.home / "cases"

    def embedded_store_path(self, case_dir: Path | None) -> Path:
        """The embedded store a case uses: its own ``graph.lbug`` (a case directory is then a
        self-contained exhibit), or the one shared store file configured as ``store.path``;
        without a case, ``store.path`` or ``$TRACER_HOME/graph.lbug``."""
        if self.store_path:
            return self.store_path
        return (case_dir or self.home) / "graph.lbug"

    def weth_for(self, chain: Chain) -> tuple[str, ...]:
        """The WETH9-like contracts whose Deposit/Withdrawal are conversions on ``chain``: the configured
        ones, and on Ethereum mainnet the canonical WETH9."""
        configured = tuple(self.weth.get(chain.key, ()))
        return configured + tuple(DEFAULT_WETH) if chain.evm_chain_id == 1 else configured

    def factories_for(self, chain: Chain) -> tuple[str, ...]:
        """The DEX factories whose pools' swaps are followed on ``chain``: the configured ones, and on
        Ethereum mainnet Uniswap V2 and V3 and SushiSwap. A pool made by any other contract is not
        taken for a conversion venue (its swap stays plain transfers, with a warning)."""
        configured = tuple(self.factories.get(chain.key, ()))
        return configured + MAINNET_FACTORIES if chain.evm_chain_id == 1 else configured

    def node_url(self, chain: str) -> str | None:
        """Configured RPC URL for ``chain`` (may contain credentials: do not print it)."""
        return self.nodes.get(self.chains.get(chain).key)

    def secrets(self) -> list[str]:
        """Every secret this configuration holds, as text that must never reach a log or a screen:
        the Etherscan key, the Neo4j password, and what a node or Esplora URL carries besides its
        host (user and password, path segments but Bitcoin Core's ``/wallet/NAME``, query values),
        raw and percent-decoded. Longest first, so a secret is masked before any part of it."""
        found = {self.etherscan_key, self.neo4j_password}
        for url in (*self.nodes.values(), *self.esplora.values(), *([self.neo4j_uri] if self.neo4j_uri else [])):
            found.update(_url_secrets(url))
        return sorted((s for s in found if s and len(s) >= 4), key=lambda s: (-len(s), s))

    def redacted(self) -> dict[str, Any]:
        """A printable view: passwords replaced by ``***``."""
        return {
            "home": str(self.home),
            "config_file": str(self.config_file) if self.config_file else None,
            "store": {
                "backend": self.store_backend,
                "path": str(self.store_path) if self.store_path else "<case directory>/graph.lbug",
            },
            "neo4j": {
                "uri": redact_url(self.neo4j_uri) if self.neo4j_uri else None,
                "user": self.neo4j_user,
                "password": "***" if self.neo4j_password else None,
                "database": self.neo4j_database,
            },
            "nodes": {chain: redact_url(url) for chain, url in sorted(self.nodes.items())},
            "esplora": {chain: redact_url(url) for chain, url in sorted(self.esplora.items())},
            "privacy": {"allow_third_party": self.allow_third_party},
            "etherscan": {"key": "***" if self.etherscan_key else None},
            "chains": self.chains.keys(),
        }


def _url_secrets(url: str) -> set[str]:
    """The parts of a URL that may be credentials (see :meth:`Settings.secrets`)."""
    try:
        parts = urlsplit(url.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return {url}
    found = {user, password} if user is not None else set()
    segments = [p for p in parts.path.split("/") if p]
    if not (len(segments) == 2 and segments[0] == "wallet"):
        found.update(segments)
    found.update(value for _, value in parse_qsl(parts.query, keep_blank_values=False))
    if parts.query:
        found.add(parts.query)
    return {text for s in found if s for text in (s, unquote(s))}


def _find_config_file(env: Mapping[str, str], home: Path | None) -> Path | None:
    explicit = env.get("TRACER_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"TRACER_CONFIG names {path}, which is not a readable file")
        return path
    candidates = []
    if home is not None:
        candidates.append(home / "config.toml")
    candidates.append(Path(platformdirs.user_config_dir("tracer")) / "config.toml")
    return next((p for p in candidates if p.is_file()), None)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _KNOWN_SECTIONS)
    if unknown:
        raise ConfigError(f"config file {path} has unknown section(s): {', '.join(unknown)}")
    return data


def _table(data: Mapping[str, Any], name: str, path: Path | None) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"config file {path}: [{name}] must be a table")
    return value


def _text(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be text")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the config file and the environment.

    Raises
    ------
    ConfigError
        Unreadable or invalid file, unknown store backend, malformed chain or node entries.
    """
    env = os.environ if env is None else env
    env_home = env.get("TRACER_HOME")
    home_hint = Path(env_home).expanduser() if env_home else None
    path = _find_config_file(env, home_hint)
    data = _read_toml(path) if path else {}
    where = f"config file {path}" if path else "configuration"

    home_text = env_home or data.get("home")
    if home_text is not None and not isinstance(home_text, str):
        raise ConfigError(f"{where}: home must be text")
    home = Path(home_text).expanduser() if home_text else Path(platformdirs.user_data_dir("tracer"))

    store = _table(data, "store", path)
    backend = (env.get("TRACER_STORE") or _text(store, "backend", where) or "embedded").lower()
    if backend not in STORE_BACKENDS:
        raise ConfigError(f"unknown store backend {backend!r}; choose one of {', '.join(STORE_BACKENDS)}")
    store_path_text = env.get("TRACER_STORE_PATH") or _text(store, "path", where)

    neo4j = _table(data, "neo4j", path)
    privacy = _table(data, "privacy", path)
    allow = privacy.get("allow_third_party", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{where}: privacy.allow_third_party must be true or false")

    etherscan = _table(data, "etherscan", path)
    etherscan_key = env.get("TRACER_ETHERSCAN_KEY") or _text(etherscan, "key", where)

    registry = default_registry()
    extra = []
    for key, spec in _table(data, "chains", path).items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: [chains.{key}] must be a table")
        try:
            extra.append(ChainRegistry.evm_chain_from_mapping(key, spec))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    try:
        registry = registry.extended(extra)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None

    bridges = parse_bridges_config(data.get("bridges"), where=where)  # BridgeConfigError is a ConfigError
    weth = _conversion_contracts(data, registry, where, "weth")
    factories = _conversion_contracts(data, registry, where, "factories")

    nodes = _urls_by_chain(data, "nodes", "TRACER_NODE_", env, registry, path, where)
    esplora = _urls_by_chain(data, "esplora", "TRACER_ESPLORA_", env, registry, path, where)

    return Settings(
        home=home,
        config_file=path,
        store_backend=backend,
        store_path=Path(store_path_text).expanduser() if store_path_text else None,
        neo4j_uri=env.get("NEO4J_URI") or _text(neo4j, "uri", where),
        neo4j_user=env.get("NEO4J_USER") or _text(neo4j, "user", where) or "neo4j",
        neo4j_password=env.get("NEO4J_PASSWORD") or _text(neo4j, "password", where),
        neo4j_database=env.get("NEO4J_DATABASE") or _text(neo4j, "database", where) or "neo4j",
        nodes=nodes,
        esplora=esplora,
        allow_third_party=allow,
        etherscan_key=etherscan_key,
        chains=registry,
        bridges=bridges,
        weth=weth,
        factories=factories,
    )


def _conversion_contracts(data: Mapping[str, Any], registry: ChainRegistry, where: str,
                          kind: str) -> dict[str, tuple[str, ...]]:
    """``[conversions.<kind>]`` (weth, factories): chain key -> list of EVM contract addresses."""
    section = data.get("conversions") or {}
    if not isinstance(section, dict) or not isinstance(section.get(kind, {}), dict):
        raise ConfigError(f"{where}: [conversions.{kind}] must be a table of chain = [contract addresses]")
    unknown = set(section) - set(CONVERSION_TABLES)
    if unknown:
        raise ConfigError(f"{where}: [conversions] has unknown option(s) {', '.join(sorted(unknown))}; expected "
                          f"{', '.join(CONVERSION_TABLES)}")
    out: dict[str, tuple[str, ...]] = {}
    for key, addresses in section.get(kind, {}).items():
        try:
            chain = registry.get(str(key))
        except InputError as exc:
            raise ConfigError(f"{where}: conversions.{kind}: {exc}") from None
        if not chain.is_evm:
            raise ConfigError(f"{where}: conversions.{kind}.{key}: {chain.key} is not an EVM chain")
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise ConfigError(f"{where}: conversions.{kind}.{key} must be a list of contract addresses")
        normal = []
        for address in addresses:
            try:
                normal.append(normal_address(registry, chain.key, address.strip()))
            except InputError as exc:
                raise ConfigError(f"{where}: conversions.{kind}.{key}: {exc}") from None
        out[chain.key] = tuple(normal)
    return out


def _urls_by_chain(
    data: Mapping[str, Any], section: str, env_prefix: str, env: Mapping[str, str], registry: ChainRegistry,
    path: Path | None, where: str,
) -> dict[str, str]:
    """``[section] chain = "URL"`` entries, overridden by ``<env_prefix><CHAIN>`` variables."""
    urls: dict[str, str] = {}
    for key, url in _table(data, section, path).items():
        if not isinstance(url, str):
            raise ConfigError(f"{where}: {section}.{key} must be a URL")
        urls[_chain_key(registry, key, where)] = url
    for name, url in env.items():
        if name.startswith(env_prefix) and url:
            key = name.removeprefix(env_prefix).lower().replace("_", "-")
            urls[_chain_key(registry, key, f"environment variable {name}")] = url
    return urls


def _chain_key(registry: ChainRegistry, key: str, where: str) -> str:
    if key not in registry:
        raise ConfigError(f"{where}: node for unknown chain {key!r}; known: {', '.join(registry.keys())}")
    return registry.get(key).key
