"""``paw config show``: the effective configuration, each value with its source."""

from __future__ import annotations

import argparse
import json

from .. import config
from ._output import format_table

__all__ = ["cmd_config_show"]


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print what ``paw server`` / ``paw worker`` would run with here; secrets
    (tokens, keys, a database password) only ever masked."""
    effective = config.resolve_config(vars(args), "show")
    shown = effective.shown()
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    rows = [(name, item["value"] or "-", item["source"]) for name, item in shown.items()]
    print(format_table(["SETTING", "VALUE", "SOURCE"], rows))
    if effective.database_url is not None:
        print(
            "note: with PostgreSQL, every server of the database needs the same "
            + ", ".join(config.SHARED_CREDENTIALS)
        )
    return 0
