"""bench/attack.py, short: every attack of issue 15's mock section holds (small numbers, seconds)."""

from __future__ import annotations

from helpers import load_bench_script


def test_every_attack_is_held_by_the_mock() -> None:
    attack = load_bench_script("attack")
    outcomes = attack.run(list(attack.ATTACKS), attack.ROOT, attack.SHORT, parallel=True)
    assert [o.name for o in outcomes] == list(attack.ATTACKS)
    failed = [f"{o.name}: {o.figure}" for o in outcomes if not o.held]
    assert not failed, failed
