#!/usr/bin/env python3
"""Summarize matrix.py JSON results: per (status, shape), which client versions do not surface the
documented error class, for chat and image.

    python summarize.py results/*.json > summary.md
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def vkey(v: str):
    return tuple(int(p) if p.isdigit() else p for p in str(v).split("."))


def ranges(ordered: list[str], chosen: set[str]) -> str:
    """Runs of consecutive tested versions: '0.5.4.0-0.6.2.8, 0.4.9.7-0.4.9.8'."""
    runs, run = [], []
    for v in ordered:
        if v in chosen:
            run.append(v)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def surfaced(items: set, versions: dict) -> str:
    by = defaultdict(lambda: defaultdict(set))  # client -> exception -> versions
    for client, version, exc in items:
        by[client][exc].add(version)
    out = []
    for client, excs in sorted(by.items()):
        ordered = sorted(versions[client], key=vkey)
        if len(excs) == 1:
            out.append(f"{client}: {next(iter(excs))}")
        else:
            out.append(
                f"{client}: "
                + ", ".join(
                    f"{e} ({ranges(ordered, vs)})"
                    for e, vs in sorted(excs.items(), key=lambda x: vkey(min(x[1], key=vkey)))
                )
            )
    return "; ".join(out)


def main(paths: list[str]) -> None:
    cells = [c for p in paths for c in json.loads(Path(p).read_text(encoding="utf-8"))]
    versions = defaultdict(set)
    for c in cells:
        versions[c["client"]].add(c["version"])
    statuses = sorted({c["status"] for c in cells})
    shapes = list(dict.fromkeys(c["shape"] for c in cells))
    bad = defaultdict(list)  # (status, shape) -> ["g4f 0.4.9.2 chat+image: UnboundLocalError"]
    what = {}
    for c in cells:
        key = (c["status"], c["shape"])
        what.setdefault(key, set())
        if c["verdict"] != "ok":
            exc = (c["exception"] or "no exception").rsplit(".", 1)[-1]
            bad[key].append((c["client"], c["version"], c["endpoint"], exc))
        else:
            what[key].add((c["client"], c["version"], c["exception"].rsplit(".", 1)[-1]))
    print(
        "tested:", "; ".join(f"{k} " + ", ".join(sorted(v, key=vkey)) for k, v in versions.items())
    )
    print()
    print("| status | body shape | surfaced as (documented) | fails in |")
    print("| --- | --- | --- | --- |")
    for status in statuses:
        for shape in shapes:
            key = (status, shape)
            if key not in what:
                continue
            groups = defaultdict(list)
            for client, version, endpoint, exc in bad[key]:
                groups[(client, exc)].append((version, endpoint))
            fails = []
            for (client, exc), items in sorted(groups.items()):
                endpoints = defaultdict(set)
                for version, endpoint in items:
                    endpoints[endpoint].add(version)
                # versions failing on both endpoints, then on one only
                both = endpoints["chat"] & endpoints["image"]
                parts = []
                for label, vs in (
                    ("", both),
                    (" (chat only)", endpoints["chat"] - both),
                    (" (image only)", endpoints["image"] - both),
                ):
                    if vs:
                        parts.append(ranges(sorted(versions[client], key=vkey), vs) + label)
                fails.append(f"{client} {'; '.join(parts)}: **{exc}**")
            print(
                f"| {status} | {shape} | {surfaced(what[key], versions)} | {'; '.join(fails) or 'none'} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
