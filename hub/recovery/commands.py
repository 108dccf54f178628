"""`milk-hub gaps --config FILE [--json] [--center C] [--lang es|en]`: what the hub
lacks, per station, epoch and kind, and since when (docs/recovery.md).

Exit status 0 when nothing is missing, 1 when something is (like `verify`),
2 for a user's mistake."""

from __future__ import annotations

import json
import os
from pathlib import Path

from milk_common.i18n import choose_language, translate

from hub.errors import UserError
from hub.recovery.index import gap_report
from hub.recovery.watch import INDEX_FILE


def add_parser(sub) -> None:
    gaps = sub.add_parser("gaps", help="records the hub lacks, per station (recovery)")
    gaps.add_argument("--config", default=os.environ.get("MILK_HUB_CONFIG"), help="hub.toml")
    gaps.add_argument("--json", action="store_true", help="one JSON object per station, epoch and kind")
    gaps.add_argument("--center", help="only this center's stations")
    gaps.add_argument("--lang", choices=["es", "en"])


def cmd_gaps(args) -> int:
    from hub.config import load_hub_config
    config = load_hub_config(args.config)
    lang = choose_language(args.lang)
    path = Path(config.data_dir) / INDEX_FILE
    if not path.exists():
        raise UserError(translate("hub", "gaps_no_index", lang, path=str(path)))
    rows = [row for row in gap_report(path) if args.center in (None, row["center"])]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 1 if rows else 0
    if not rows:
        print(translate("hub", "gaps_none", lang))
        return 0
    for row in rows:
        state = ("gaps_state_old" if not row["current_epoch"] else
                 "gaps_state_online" if row["station_online"] else "gaps_state_offline")
        print(translate("hub", "gaps_stream", lang, center=row["center"], station=row["station"],
                        epoch=row["epoch"] or "-", state=translate("hub", state, lang),
                        kind=translate("hub", f"gaps_kind_{row['kind']}", lang),
                        announced=row["announced"], stored=row["stored"], missing=row["missing"]))
        for r in row["ranges"]:
            asked = (translate("hub", "gaps_asked", lang, asks=r["asks"], asked_at=r["asked_at"])
                     if r["asks"] else translate("hub", "gaps_asked_never", lang))
            print(translate("hub", "gaps_range", lang, from_seq=r["from_seq"], to_seq=r["to_seq"],
                            since=r["since"], asked=asked))
    return 1
