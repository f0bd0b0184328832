# SPDX-License-Identifier: Apache-2.0
"""Links between investigations: which addresses and clusters a case shares with other cases.

Every case is reduced to its *roles*: one row per ``(case, chain, address, role)`` with ``role``

* ``seed`` — a seed of the case (``seeds.json``) or an address a trace started from
  (``traces/*/seeds.parquet``);
* ``hop`` — an address value passed through (``from_address``/``to_address`` of
  ``traces/*/hops.parquet``);
* ``terminal`` — an address where a trail ended (``traces/*/endings.parquet``);

and the cluster the case's own ``tracer cluster run`` put the address in
(``clusters/<chain>-clusters.parquet``; ``cluster_id`` is ``"{chain}:{smallest member}"``, so two
cases agree on it when both clustered the same component). Two cases are *linked* when they share
an address, or when an address of one is in the same cluster as a different address of the other.
This is how two units working the same organisation find each other (deconfliction).

The index of a workspace is the union of the cases' roles. Reading every trace of hundreds of
cases on each command would be slow, so each case's roles are cached in
``$TRACER_HOME/index/<case>.parquet``, keyed by the list of files read and each file's size,
mtime, ctime and inode. A cache is used only if every key still matches — a new, rewritten or
deleted trace or cluster file rebuilds it — and, as git does for its index ("racily clean"
entries), it is not written while a file is younger than the file system's timestamp resolution
could tell apart, so a rewrite within the same timestamp tick can never leave a stale cache.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

import polars as pl

from jobs.workspace import Case, Workspace
from tracer.errors import TracerError
from tracer.trace import TraceResult

__all__ = [
    "ROLES",
    "INDEX_COLUMNS",
    "LINK_COLUMNS",
    "OTHER_CASE_COLUMNS",
    "case_roles",
    "workspace_index",
    "links",
    "other_cases",
    "touched_addresses",
    "other_case_notices",
    "notice_text",
]

#: Roles in the order they are listed (the order of an investigation: start, path, end).
ROLES = ("seed", "hop", "terminal")
_ROLE = pl.Enum(list(ROLES))

INDEX_COLUMNS: dict[str, pl.DataType] = {
    "case": pl.String(), "chain": pl.String(), "address": pl.String(), "role": _ROLE, "cluster_id": pl.String(),
}
LINK_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "address": pl.String(), "cluster_id": pl.String(), "this_case_roles": pl.List(pl.String),
    "other_case": pl.String(), "other_case_roles": pl.List(pl.String), "other_addresses": pl.List(pl.String),
    "matched_on": pl.String(),
}
OTHER_CASE_COLUMNS: dict[str, pl.DataType] = {
    "other_case": pl.String(), "addresses": pl.Int64(), "roles": pl.List(pl.String),
    "shared_addresses": pl.List(pl.String),
}

INDEX_FORMAT = "1"
_META_KEY = "tracer.case_index"
#: A file modified less than this long before the cache is built may be rewritten within the
#: same timestamp tick (FAT: 2 s; ext4/APFS: ns): such caches are not written.
RACY_SECONDS = 2.0


def _files(case: Case) -> dict[str, list[Path]]:
    """The files the roles of a case come from, by kind, in a stable order."""
    traces = case.dir / "traces"
    return {
        "case_seeds": [case.dir / "seeds.json"],
        "trace_seeds": sorted(traces.glob("*/seeds.parquet")),
        "hops": sorted(traces.glob("*/hops.parquet")),
        "endings": sorted(traces.glob("*/endings.parquet")),
        "clusters": sorted((case.dir / "clusters").glob("*-clusters.parquet")),
    }


def _fingerprint(case: Case, files: dict[str, list[Path]]) -> tuple[dict[str, Any], int]:
    """Stat keys of every file read, and the newest mtime among them (ns)."""
    entries: list[list[Any]] = []
    newest = 0
    for path in (p for group in files.values() for p in group):
        try:
            st = path.stat()
        except FileNotFoundError:
            entries.append([str(path.relative_to(case.dir)), None])
            continue
        entries.append([str(path.relative_to(case.dir)), [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]])
        newest = max(newest, st.st_mtime_ns)
    return {"format": INDEX_FORMAT, "case": case.name, "dir": str(case.dir.resolve()), "files": entries}, newest


def _empty_index() -> pl.DataFrame:
    return pl.DataFrame(schema=INDEX_COLUMNS)


def _read(case: Case, files: dict[str, list[Path]]) -> pl.DataFrame:
    frames: list[pl.LazyFrame] = [
        pl.LazyFrame([(s.chain, s.address, "seed") for s in case.seeds()],
                     schema={"chain": pl.String, "address": pl.String, "role": pl.String}, orient="row")
    ]

    def scan(paths: list[Path], columns: dict[str, str]) -> None:
        for column, role in columns.items():
            if paths:
                frames.append(pl.scan_parquet(paths).select(
                    "chain", pl.col(column).alias("address"), pl.lit(role).alias("role")))

    scan(files["trace_seeds"], {"address": "seed"})
    scan(files["hops"], {"from_address": "hop", "to_address": "hop"})
    scan(files["endings"], {"address": "terminal"})
    roles = (pl.concat(frames).drop_nulls("address").unique()
             .with_columns(pl.lit(case.name).alias("case"), pl.col("role").cast(_ROLE)))
    if files["clusters"]:
        members = (pl.scan_parquet(files["clusters"]).select("chain", "address", "cluster_id")
                   .sort("chain", "address", "cluster_id").unique(["chain", "address"], keep="first"))
        roles = roles.join(members, on=["chain", "address"], how="left")
    else:
        roles = roles.with_columns(pl.lit(None, pl.String).alias("cluster_id"))
    return roles.select(list(INDEX_COLUMNS)).sort("chain", "address", "role").collect()


def case_roles(case: Case, cache_dir: Path | None = None) -> pl.DataFrame:
    """Every address a case knows, with its role(s) and cluster: columns ``INDEX_COLUMNS``.

    With ``cache_dir``, a cache whose file keys all match is returned instead of re-reading the
    case; otherwise the roles are read and the cache rewritten (atomically, unless racy).
    """
    files = _files(case)
    key, newest = _fingerprint(case, files)
    if cache_dir is None:
        return _read(case, files)
    path = cache_dir / f"{case.name}.parquet"
    stamp = json.dumps(key, sort_keys=True)
    try:
        if pl.read_parquet_metadata(path).get(_META_KEY) == stamp:
            return pl.read_parquet(path).cast(INDEX_COLUMNS)  # type: ignore[arg-type]
    except (OSError, pl.exceptions.PolarsError):
        pass  # missing or unreadable cache: rebuild it
    started = time.time_ns()
    roles = _read(case, files)
    if started - newest > RACY_SECONDS * 1e9:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{case.name}.{os.getpid()}.tmp"
        roles.write_parquet(tmp, statistics=False, metadata={_META_KEY: stamp})
        os.replace(tmp, path)
    return roles


def workspace_index(workspace: Workspace, cache_dir: Path | None = None, *,
                    exclude: Collection[str] = (), skipped: list[str] | None = None) -> pl.DataFrame:
    """The roles of every case in the workspace (but ``exclude``), one frame.

    A case whose files cannot be read raises, unless ``skipped`` is given: the case is then left
    out and ``"<case>: <reason>"`` appended, so one damaged case does not hide all the others.
    """
    frames = []
    for case in workspace.list():
        if case.name in exclude:
            continue
        try:
            frames.append(case_roles(case, cache_dir))
        except (OSError, TracerError, pl.exceptions.PolarsError) as exc:
            if skipped is None:
                raise
            skipped.append(f"{case.name}: {exc}".splitlines()[0])
    return pl.concat(frames) if frames else _empty_index()


def _roles(column: str = "role") -> pl.Expr:
    return pl.col(column).unique().sort().cast(pl.String)


def links(index: pl.DataFrame, case: str) -> pl.DataFrame:
    """What ``case`` shares with other cases: columns ``LINK_COLUMNS``, address matches first.

    ``matched_on = "address"``: the address itself is in the other case (``other_addresses`` is
    ``[address]``). ``matched_on = "cluster"``: the address is not in the other case, but other
    addresses of its cluster are (``other_addresses``; ``other_case_roles`` are theirs).
    """
    this = (index.filter(pl.col("case") == case).group_by("chain", "address")
            .agg(_roles().alias("this_case_roles"), pl.col("cluster_id").drop_nulls().first()))
    others = index.filter(pl.col("case") != case)
    by_address = (others.group_by("case", "chain", "address").agg(_roles().alias("other_case_roles"))
                  .rename({"case": "other_case"}))
    on_address = this.join(by_address, on=["chain", "address"]).with_columns(
        pl.concat_list(pl.col("address")).alias("other_addresses"), pl.lit("address").alias("matched_on"))
    by_cluster = (others.filter(pl.col("cluster_id").is_not_null())
                  .group_by("case", "chain", "cluster_id")
                  .agg(_roles().alias("other_case_roles"), pl.col("address").unique().sort().alias("other_addresses"))
                  .rename({"case": "other_case"}))
    on_cluster = (this.filter(pl.col("cluster_id").is_not_null())
                  .join(by_cluster, on=["chain", "cluster_id"])
                  .join(by_address.select("other_case", "chain", "address"), on=["other_case", "chain", "address"],
                        how="anti")
                  .with_columns(pl.lit("cluster").alias("matched_on")))
    return (pl.concat([on_address.select(list(LINK_COLUMNS)), on_cluster.select(list(LINK_COLUMNS))])
            .cast(LINK_COLUMNS)  # type: ignore[arg-type]
            .sort("matched_on", "other_case", "chain", "address"))


def other_cases(index: pl.DataFrame, chain: str, addresses: Iterable[str], exclude_case: str) -> pl.DataFrame:
    """Other cases that hold any of ``addresses`` on ``chain``: columns ``OTHER_CASE_COLUMNS``."""
    wanted = pl.Series("address", sorted(set(addresses)), dtype=pl.String).to_frame()
    return (index.filter((pl.col("chain") == chain) & (pl.col("case") != exclude_case))
            .join(wanted, on="address", how="semi")
            .group_by("case")
            .agg(pl.col("address").n_unique().cast(pl.Int64).alias("addresses"), _roles().alias("roles"),
                 pl.col("address").unique().sort().alias("shared_addresses"))
            .rename({"case": "other_case"})
            .select(list(OTHER_CASE_COLUMNS)).cast(OTHER_CASE_COLUMNS)  # type: ignore[arg-type]
            .sort("other_case"))


def touched_addresses(results: Iterable[TraceResult]) -> list[str]:
    """Every address a trace touched: its seeds, both ends of its hops, its endings."""
    found: set[str] = set()
    for result in results:
        for column in (result.seeds["address"], result.hops["from_address"], result.hops["to_address"],
                       result.endings["address"]):
            found.update(column.drop_nulls().to_list())
    return sorted(found)


def other_case_notices(workspace: Workspace, cache_dir: Path | None, case: str, chain: str,
                       addresses: Iterable[str], notify: Callable[[str], None] = lambda _: None,
                       ) -> list[dict[str, Any]]:
    """The other cases that ``addresses`` (touched by a trace or a screening of ``case``) belong to,
    as rows of ``OTHER_CASE_COLUMNS`` — for the ``notice`` lines and the JSON of a command. A case
    that cannot be read is skipped and named through ``notify``."""
    skipped: list[str] = []
    index = workspace_index(workspace, cache_dir, exclude=(case,), skipped=skipped)
    for problem in skipped:
        notify(f"warning: case {problem} — not checked for shared addresses")
    return other_cases(index, chain, addresses, case).to_dicts()


def notice_text(row: dict[str, Any], case: str, what: str = "this trace") -> str:
    """One line for one other case, e.g. ``note: 3 addresses of this trace also belong to case op-b
    (roles: seed, terminal) — see `tracer case links op-a```."""
    count = row["addresses"]
    noun = "address" if count == 1 else "addresses"
    verb = "belongs" if count == 1 else "belong"
    return (f"note: {count} {noun} of {what} also {verb} to case {row['other_case']} "
            f"(roles: {', '.join(row['roles'])}) — see `tracer case links {case}`")
