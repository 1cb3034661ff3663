"""bench/attack.py --short: every attack of issue 15 holds (small numbers, seconds a section).

One test per section, so the suite's workers can share them out.
"""

from __future__ import annotations

import pytest
from helpers import load_bench_script

attack = load_bench_script("attack")


@pytest.mark.parametrize("section", list(attack.SECTIONS))
def test_every_attack_of_the_section_holds(section: str) -> None:
    rows = attack.run(section, short=True)
    assert [row.attack for _, row in rows] == list(attack.SECTIONS[section].NAMES)
    failed = [
        f"{row.attack}: {row.figure} (limit: {row.limit})"
        for _, row in rows
        if row.verdict == "FAILED"
    ]
    assert not failed, failed


def test_only_names_sections_or_attacks_and_refuses_the_rest() -> None:
    assert attack.select("replay-miss,client") == {
        "replay": ["replay-miss"],
        "client": list(attack.SECTIONS["client"].NAMES),
    }
    with pytest.raises(ValueError, match="nonsense"):
        attack.select("mock,nonsense")
