# SPDX-License-Identifier: Apache-2.0
"""``tracer config``: show the effective configuration (secrets masked)."""

from __future__ import annotations

import typer

from cli.context import app_context
from cli.options import JsonOpt
from cli.output import emit, stdout, table

app = typer.Typer(help="Show the configuration in effect (file + environment, secrets masked).",
                  no_args_is_help=True)


@app.command("show")
def show(json_: JsonOpt = False) -> None:
    """Show where the configuration comes from and what is in effect.

    Example: tracer config show --json
    """
    view = app_context().settings.redacted()

    def human() -> None:
        rows = [
            ("home", view["home"]),
            ("config file", view["config_file"] or "(none)"),
            ("store", f"{view['store']['backend']} ({view['store']['path']})"),
            ("neo4j", f"{view['neo4j']['uri'] or '(not set)'} user={view['neo4j']['user']} "
                      f"db={view['neo4j']['database']} password={view['neo4j']['password'] or '(not set)'}"),
            *((f"node {k}", v) for k, v in view["nodes"].items()),
            ("third-party APIs", "allowed" if view["privacy"]["allow_third_party"] else "never (default)"),
        ]
        stdout.print(table("Configuration", ["setting", "value"], rows))

    emit(view, as_json=json_, human=human)
