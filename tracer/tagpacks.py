# SPDX-License-Identifier: Apache-2.0
"""Attribution tags from GraphSense TagPacks and from plain address lists (shared design notes §6).

Pure functions: they take the text of a file and its name, never a path, and return a
:class:`TagImport` whose ``tags`` frame is canonical (``tracer.schema.TAGS``), sorted by key and
free of duplicates. Nothing is half-imported: the first bad entry raises :class:`TagFileError`
naming the file and the line, and no frame is returned.

TagPack format
--------------
A TagPack is YAML (GraphSense TagPack specification, ``graphsense/graphsense-tagpacks``
``README.md``; fields from ``graphsense/graphsense-tagpack-tool`` ``src/tagpack/conf/tagpack_schema.yaml``)::

    title: Known exchanges          # header
    creator: ...
    currency: BTC                   # inherited by every tag ...
    confidence: service_data
    tags:
    - address: 1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG
      label: Huobi.com              # ... unless the tag sets it itself
      category: exchange

* **Inheritance**: every header field except ``tags`` is a default for each tag; a field the tag
  sets wins.
* **Chain**: the tag's ``network`` if present, else its ``currency``, names the chain whose rules
  the address follows (a USDT tag with ``network: ETH`` is an Ethereum address). A code that is one
  of our chain keys or aliases (``BTC``, ``XBT``, ``LTC``, ``ETH``, a chain added in the config, or
  a key such as ``ltc-regtest`` for test fixtures) maps to that chain. A currency GraphSense or
  OFAC knows but we have no chain for (``BCH``, ``ZEC``, ``XMR``, ``USDT`` without a network...) is
  *skipped and counted*. Any other code is an error.
* **Category**: ``category``, else ``abuse`` (e.g. ``ransomware``), else the first of ``concepts``;
  INTERPOL DW-VA concept ids as GraphSense uses them, lower-cased.
* **Confidence**: a GraphSense level name mapped to its level (:data:`CONFIDENCE_LEVELS`), or an
  integer 0-100.
* **Addresses** are validated and normalized by the caller's ``normalize`` function (the chain
  rules live in ``adapters/addresses.py``; this module stays free of adapter imports). An invalid
  address is an error unless ``skip_invalid`` is set, in which case it is skipped and counted with
  its line (upstream lists do contain mistakes: OFAC lists a Tron address under XBT).
* Tags without an address (transaction or entity tags) are skipped and counted.

Address lists
-------------
One address a line; blank lines and ``#`` comments (whole line or trailing) are ignored. The chain
and the label, category, source and confidence shared by all lines are given by the caller.

Tag CSV files
-------------
The most common attribution export: a header row, then one tag a row, each with its own label and
category::

    address,label,category,source,confidence,chain
    1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG,Huobi.com,exchange,https://www.walletexplorer.com,service_data,btc

``address`` is required; ``label``, ``category``, ``source``, ``confidence`` and ``chain`` are
optional columns (header names are case-insensitive). An empty or missing cell takes the caller's
default (the import's ``--label``, ``--category``, ...), else the label is the file name without
extension, the source the file name and the category empty. ``chain`` takes a chain key or a
currency code as TagPacks do (``BTC``, ``XBT``, ``eth``...); a known currency without a chain here is
skipped and counted. Other columns are ignored (named in ``meta["ignored_columns"]``).

Sanctions lists
---------------
Whether an import is a sanctions list is stated by whoever imports it (:class:`SanctionsList`: the
list's name and date), never guessed from a title, label or URL; screening rates the tags of such
an import as ``sanctioned`` (``tracer.risk.with_sanctions_category``).

Examples
--------
>>> from tracer.chains import default_registry
>>> text = '''title: Demo
... creator: me
... currency: ETH
... source: https://example.org/list
... confidence: forensic
... tags:
... - address: '0xde0b295669a9fd93d5f28d9ec85e40f4cb697bae'
...   label: Some exchange
...   category: exchange
... - address: '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2'
...   currency: BCH
...   label: Elsewhere
... '''
>>> result = parse_tagpack(text, "demo.yaml", default_registry(), normalize=lambda chain, a: a.lower())
>>> result.tags.select("chain", "address", "label", "category", "confidence").rows()
[('eth', '0xde0b295669a9fd93d5f28d9ec85e40f4cb697bae', 'Some exchange', 'exchange', 50)]
>>> result.skipped
{'currency BCH: no chain here': 1}
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
import yaml

from tracer.chains import Chain, ChainRegistry
from tracer.errors import InputError
from tracer.schema import TAGS, conform

__all__ = [
    "AddressNormalizer",
    "TagFileError",
    "TagImport",
    "SanctionsList",
    "CSV_COLUMNS",
    "CONFIDENCE_LEVELS",
    "KNOWN_CURRENCIES",
    "SANCTIONED_CATEGORY",
    "parse_confidence",
    "parse_tagpack",
    "parse_address_list",
    "parse_tag_csv",
]

#: ``normalize(chain, address) -> normal form``; raises :class:`tracer.errors.InvalidAddressError`
#: (the CLI passes ``adapters.addresses.parse_address(...).address``).
AddressNormalizer = Callable[[Chain, str], str]

#: GraphSense confidence levels (``graphsense/graphsense-tagpack-tool`` ``src/tagpack/db/confidence.csv``).
CONFIDENCE_LEVELS: Mapping[str, int] = {
    "override": 100,  # manual cluster tag: the creator knows it represents the whole cluster
    "ownership": 100,  # the creator controls the private key
    "manual_transaction": 90,  # the creator moved funds between two known services
    "service_api": 70,  # from a known, trusted service provider API
    "authority_data": 60,  # from public authorities (e.g. OFAC)
    "trusted_provider": 50,  # from trusted third parties
    "service_data": 50,  # from a known service (e.g. a CSV received from an exchange)
    "forensic": 50,  # from somewhat trusted reports (e.g. academic papers)
    "untrusted_transaction": 40,  # a third party moved funds between two known services
    "web_crawl": 20,  # crawled from the web or other dumps
    "heuristic": 10,  # methods whose reliability is hard to quantify
    "unknown": 5,  # source and reliability unknown
}

#: Currency and network codes someone knows, in upper case: GraphSense's ``KNOWN_CURRENCIES`` and
#: ``KNOWN_NETWORKS`` (``graphsense/graphsense-tagpack-tool`` ``src/tagpack/constants.py``) and the
#: assets OFAC lists addresses for (one list each in ``0xB10C/ofac-sanctioned-digital-currency-addresses``).
#: A tag in one of these without a chain here is skipped; any other code is an error.
KNOWN_CURRENCIES: frozenset[str] = frozenset({
    # GraphSense currencies
    "ETH", "BTC", "XBT", "BCH", "ZEC", "LTC", "WETH", "XMR", "DASH", "BTG", "ETC", "BSV", "XRP", "TRX", "EOS",
    "ALGO", "ARB", "USDT", "USDC", "KCS", "MATIC",
    # GraphSense networks
    "BSC", "EOSIO", "KCC", "OP",
    # OFAC SDN digital currency address types not above
    "XVG", "SOL",
})

#: The category the OFAC TagPack of the INTERPOL CNTL scraper gives sanctioned assets (its label
#: says "Asset listed under US Treasury OFAC Sanctions List"); suggested for sanctions lists.
SANCTIONED_CATEGORY = "user"

#: The columns a tag CSV may have (``address`` is required).
CSV_COLUMNS = ("address", "label", "category", "source", "confidence", "chain")

_INT = re.compile(r"^[0-9]+$")
_TEXT_FIELDS = ("label", "category", "abuse", "source", "currency", "network", "confidence", "address")


class TagFileError(InputError):
    """A tag file that cannot be imported; the message names the file and, where known, the line."""

    def __init__(self, name: str, line: int | None, problem: str) -> None:
        self.name = name
        self.line = line
        self.problem = problem
        where = f"{name}, line {line}" if line is not None else name
        super().__init__(f"{where}: {problem}; nothing was imported from this file")


@dataclass(frozen=True)
class SanctionsList:
    """An import declared a sanctions list: the list's name (``OFAC SDN``) and the date of the
    snapshot imported (ISO ``YYYY-MM-DD``).

    >>> SanctionsList("OFAC SDN", "2024-09-27").label
    'OFAC SDN (2024-09-27)'
    >>> SanctionsList("OFAC SDN", "27.09.2024")
    Traceback (most recent call last):
    ...
    tracer.errors.InputError: sanctions list date '27.09.2024' is not a date (YYYY-MM-DD)
    """

    name: str
    date: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InputError("a sanctions list needs a name (e.g. 'OFAC SDN')")
        try:
            date.fromisoformat(self.date)
        except ValueError:
            raise InputError(f"sanctions list date {self.date!r} is not a date (YYYY-MM-DD)") from None
        if len(self.date) != 10:
            raise InputError(f"sanctions list date {self.date!r} is not a date (YYYY-MM-DD)")

    @property
    def label(self) -> str:
        return f"{self.name} ({self.date})"


@dataclass(frozen=True)
class TagImport:
    """The tags of one file, ready to store.

    ``name`` is the import's identity in the tag library (TagPack title, or list file name with
    chain and label): re-importing under the same name replaces the previous version.
    """

    name: str
    file_name: str
    format: str  # "tagpack" | "list"
    tags: pl.DataFrame  # canonical TAGS, sorted by key, no duplicate keys
    read: int  # tag entries (TagPack) or address lines (list) read
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    skipped_lines: tuple[int, ...] = ()  # lines of invalid addresses skipped with skip_invalid
    duplicates: int = 0  # entries dropped because an earlier one had the same key
    meta: dict[str, str] = field(default_factory=dict)  # TagPack header: title, creator, lastmod...
    sanctions: SanctionsList | None = None  # declared by the importer, never inferred

    @property
    def rows(self) -> int:
        return self.tags.height

    @property
    def chains(self) -> dict[str, int]:
        """Rows per chain."""
        counts = self.tags.group_by("chain").len().sort("chain")
        return {str(c): int(n) for c, n in counts.iter_rows()}


def parse_confidence(value: str | int | None, where: str = "confidence") -> int | None:
    """A confidence as 0-100: a GraphSense level name (:data:`CONFIDENCE_LEVELS`) or an integer.

    >>> parse_confidence("authority_data"), parse_confidence("75"), parse_confidence(None)
    (60, 75, None)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{where} must be a level name or an integer 0-100, not {value!r}")
    text = str(value).strip().lower()
    if _INT.fullmatch(text):
        number = int(text)
        if number > 100:
            raise InputError(f"{where} {number} is above 100")
        return number
    if text in CONFIDENCE_LEVELS:
        return CONFIDENCE_LEVELS[text]
    raise InputError(f"unknown {where} {value!r}: use an integer 0-100 or one of {', '.join(CONFIDENCE_LEVELS)}")


@dataclass
class _Value:
    text: str
    line: int  # 1-based


def _chain_for(code: str, registry: ChainRegistry) -> Chain | None:
    """Our chain for a TagPack currency/network code; ``None`` if known elsewhere; raises if unknown."""
    lowered = code.strip().lower()
    if lowered in registry:
        return registry.get(lowered)
    if code.strip().upper() in KNOWN_CURRENCIES:
        return None
    raise KeyError(code)


def _scalar_fields(node: yaml.Node, name: str, what: str) -> dict[str, _Value]:
    """The scalar fields of a YAML mapping with their lines (lists such as ``concepts`` keep their first item)."""
    if not isinstance(node, yaml.MappingNode):
        raise TagFileError(name, node.start_mark.line + 1, f"{what} must be a mapping of field: value")
    fields: dict[str, _Value] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = value_node.start_mark.line + 1
        if key == "tags":
            continue
        if isinstance(value_node, yaml.ScalarNode):
            if value_node.tag == "tag:yaml.org,2002:null" and value_node.value in ("", "~", "null", "Null", "NULL"):
                continue
            fields[key] = _Value(str(value_node.value), line)
        elif isinstance(value_node, yaml.SequenceNode):
            first = next((v for v in value_node.value if isinstance(v, yaml.ScalarNode) and v.value), None)
            if first is not None:
                fields[key] = _Value(str(first.value), first.start_mark.line + 1)
        elif key in _TEXT_FIELDS:
            raise TagFileError(name, line, f"{key} must be a single value")
    return fields


def _compose(text: str, name: str) -> yaml.Node:
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader_class)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise TagFileError(name, mark.line + 1 if mark else None, f"not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise TagFileError(name, None, f"not valid YAML ({exc})") from None
    if root is None:
        raise TagFileError(name, None, "the file is empty")
    return root


def parse_tagpack(
    text: str,
    name: str,
    registry: ChainRegistry,
    *,
    normalize: AddressNormalizer,
    skip_invalid: bool = False,
) -> TagImport:
    """Read a GraphSense TagPack (see the module notes for inheritance, chains, confidence).

    Parameters
    ----------
    text, name
        The YAML text and the file name (used in messages and as the name when there is no title).
    registry
        Our chains; currency and network codes are mapped through it.
    normalize
        Validates and normalizes one address for one chain.
    skip_invalid
        Skip and count invalid addresses instead of refusing the file.

    Raises
    ------
    TagFileError
        Not YAML, no ``tags`` list, an unknown currency, a bad confidence, a tag without label or
        source, or an invalid address (without ``skip_invalid``): the message has the line.
    """
    root = _compose(text, name)
    header = _scalar_fields(root, name, "a TagPack")
    tags_node = next((v for k, v in root.value if k.value == "tags"), None) if isinstance(root, yaml.MappingNode) \
        else None
    if not isinstance(tags_node, yaml.SequenceNode):
        line = tags_node.start_mark.line + 1 if tags_node is not None else None
        raise TagFileError(name, line, "a TagPack needs a 'tags:' list")

    rows: list[tuple[str, str, str, str | None, int | None, str]] = []
    skipped: Counter[str] = Counter()
    bad_lines: list[int] = []
    title = header["title"].text.strip() if "title" in header and header["title"].text.strip() else name
    for entry in tags_node.value:
        tag = header | _scalar_fields(entry, name, "a tag")
        entry_line = entry.start_mark.line + 1
        address = tag.get("address")
        if address is None or not address.text.strip():
            skipped["no address (transaction or entity tag)"] += 1
            continue
        code = tag.get("network") or tag.get("currency")
        if code is None:
            raise TagFileError(name, entry_line, "tag has no currency (neither the tag nor the header sets one)")
        try:
            chain = _chain_for(code.text, registry)
        except KeyError:
            raise TagFileError(name, code.line, f"unknown currency {code.text!r}") from None
        if chain is None:
            skipped[f"currency {code.text.strip().upper()}: no chain here"] += 1
            continue
        try:
            normal = normalize(chain, address.text.strip())
        except InputError as exc:
            if skip_invalid:
                skipped["invalid address"] += 1
                bad_lines.append(address.line)
                continue
            raise TagFileError(name, address.line, str(exc)) from None
        label = tag.get("label")
        if label is None or not label.text.strip():
            raise TagFileError(name, entry_line, "tag has no label")
        source = tag.get("source")
        if source is None or not source.text.strip():
            raise TagFileError(name, entry_line, "tag has no source")
        category = tag.get("category") or tag.get("abuse") or tag.get("concepts")
        confidence = tag.get("confidence")
        try:
            level = parse_confidence(confidence.text if confidence else None)
        except InputError as exc:
            raise TagFileError(name, confidence.line if confidence else entry_line, str(exc)) from None
        rows.append((chain.key, normal, label.text.strip(),
                     category.text.strip().lower() if category and category.text.strip() else None,
                     level, source.text.strip()))

    meta: dict[str, str] = {k: header[k].text for k in ("title", "creator", "description", "lastmod") if k in header}
    return _build(title, name, "tagpack", rows, len(tags_node.value), skipped, bad_lines, meta)


def parse_address_list(
    text: str,
    name: str,
    chain: Chain,
    *,
    normalize: AddressNormalizer,
    label: str | None = None,
    category: str | None = None,
    source: str | None = None,
    confidence: str | int | None = None,
    skip_invalid: bool = False,
) -> TagImport:
    """Read a plain list of addresses of one chain (one a line; ``#`` comments, blank lines ignored).

    ``label`` defaults to the file name without extension and ``source`` to the file name; the
    import is named ``"<file> (<chain>: <label>)"``.

    Raises
    ------
    TagFileError
        A bad confidence, or an invalid address (without ``skip_invalid``), with its line.
    """
    stem = name.rsplit("/", 1)[-1]
    label = (label or stem.rsplit(".", 1)[0]).strip()
    source = (source or stem).strip()
    if not label or not source:
        raise TagFileError(name, None, "label and source must not be empty")
    try:
        level = parse_confidence(confidence, "--confidence")
    except InputError as exc:
        raise TagFileError(name, None, str(exc)) from None
    category_value = category.strip().lower() if category and category.strip() else None

    rows: list[tuple[str, str, str, str | None, int | None, str]] = []
    skipped: Counter[str] = Counter()
    bad_lines: list[int] = []
    read = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        read += 1
        try:
            normal = normalize(chain, entry)
        except InputError as exc:
            if skip_invalid:
                skipped["invalid address"] += 1
                bad_lines.append(number)
                continue
            raise TagFileError(name, number, str(exc)) from None
        rows.append((chain.key, normal, label, category_value, level, source))
    return _build(f"{stem} ({chain.key}: {label})", name, "list", rows, read, skipped, bad_lines, {})


def parse_tag_csv(
    text: str,
    name: str,
    registry: ChainRegistry,
    *,
    normalize: AddressNormalizer,
    chain: Chain | None = None,
    label: str | None = None,
    category: str | None = None,
    source: str | None = None,
    confidence: str | int | None = None,
    skip_invalid: bool = False,
) -> TagImport:
    """Read a tag CSV: a header row with ``address`` (and optionally the other :data:`CSV_COLUMNS`),
    then one tag a row, each with its own label and category (see the module notes). The keyword
    arguments are the defaults for empty or missing cells; the import is named after the file.

    Raises
    ------
    TagFileError
        No header with an ``address`` column, a row with more fields than the header, an unknown
        chain or currency, a bad confidence, a row without chain (no column, no default), or an
        invalid address (without ``skip_invalid``), with its line.

    Examples
    --------
    >>> from tracer.chains import default_registry
    >>> text = "address,label,category\\n1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG,Huobi.com,exchange\\n"
    >>> result = parse_tag_csv(text, "we.csv", default_registry(), normalize=lambda c, a: a,
    ...                        chain=default_registry().get("btc"), source="walletexplorer")
    >>> result.tags.select("address", "label", "category", "source").rows()
    [('1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG', 'Huobi.com', 'exchange', 'walletexplorer')]
    """
    stem = name.rsplit("/", 1)[-1]
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise TagFileError(name, 1, f"not readable as CSV ({exc})") from None
    columns = [c.strip().lower() for c in header or []]
    if "address" not in columns:
        raise TagFileError(name, 1, "a tag CSV needs a header row with an 'address' column (and label, category, "
                                    "source, confidence, chain as wanted); a plain list of addresses is "
                                    "--format list")
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise TagFileError(name, 1, f"column(s) {', '.join(repeated)} appear more than once in the header")
    position = {c: i for i, c in enumerate(columns) if c in CSV_COLUMNS}
    ignored = [c for c in columns if c not in CSV_COLUMNS]
    try:
        default_level = parse_confidence(confidence, "--confidence")
    except InputError as exc:
        raise TagFileError(name, None, str(exc)) from None
    defaults = {"label": (label or stem.rsplit(".", 1)[0]).strip(), "source": (source or stem).strip(),
                "category": category.strip().lower() if category and category.strip() else None}

    rows: list[tuple[str, str, str, str | None, int | None, str]] = []
    skipped: Counter[str] = Counter()
    bad_lines: list[int] = []
    read = 0
    while True:
        try:
            record = next(reader, None)
        except csv.Error as exc:
            raise TagFileError(name, reader.line_num, f"not readable as CSV ({exc})") from None
        if record is None:
            break
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        read += 1
        if len(record) > len(columns):
            raise TagFileError(name, line, f"{len(record)} fields, the header has {len(columns)}")

        def cell(column: str, row: list[str] = record) -> str:
            index = position.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        code = cell("chain")
        if code:
            try:
                row_chain = _chain_for(code, registry)
            except KeyError:
                raise TagFileError(name, line, f"unknown chain or currency {code!r}") from None
            if row_chain is None:
                skipped[f"currency {code.upper()}: no chain here"] += 1
                continue
        elif chain is not None:
            row_chain = chain
        else:
            raise TagFileError(name, line, "no chain: add a 'chain' column or give the chain of every row (--chain)")
        try:
            normal = normalize(row_chain, cell("address"))
        except InputError as exc:
            if skip_invalid:
                skipped["invalid address"] += 1
                bad_lines.append(line)
                continue
            raise TagFileError(name, line, str(exc)) from None
        try:
            level = parse_confidence(cell("confidence"), "confidence") if cell("confidence") else default_level
        except InputError as exc:
            raise TagFileError(name, line, str(exc)) from None
        row_category = cell("category").lower() or defaults["category"]
        rows.append((row_chain.key, normal, cell("label") or str(defaults["label"]), row_category, level,
                     cell("source") or str(defaults["source"])))
    meta = {"ignored_columns": ", ".join(ignored)} if ignored else {}
    return _build(stem, name, "csv", rows, read, skipped, bad_lines, meta)


def _build(
    title: str, name: str, fmt: str, rows: list[tuple[str, str, str, str | None, int | None, str]], read: int,
    skipped: Mapping[str, int], bad_lines: list[int], meta: dict[str, str],
) -> TagImport:
    columns: dict[str, list[Any]] = {"chain": [], "address": [], "label": [], "category": [], "confidence": [],
                                     "source": []}
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            columns[column].append(value)
    frame = pl.DataFrame(
        {**columns, "tagpack": [title] * len(rows)},
        schema={c: TAGS.columns[c] for c in (*columns, "tagpack")},
    )
    # first occurrence in file order wins, then canonical order
    unique = frame.unique(subset=list(TAGS.key), keep="first", maintain_order=True)
    tags = conform(unique, TAGS).sort(list(TAGS.key), nulls_last=True)
    return TagImport(name=title, file_name=name, format=fmt, tags=tags, read=read,
                     skipped=dict(sorted(skipped.items())), skipped_lines=tuple(bad_lines),
                     duplicates=frame.height - unique.height, meta=meta)
