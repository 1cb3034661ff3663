"""Loading cassette files: YAML aliases are bounded (a few hundred bytes must not expand into
gigabytes), while the aliases a YAML writer may use for repeated values still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from websim_cassettes import check_file, load_cassette
from websim_cassettes.files import MAX_ALIAS_NODES, CassetteLoadError, cassette_paths

TAIL = (
    "interactions:\n"
    "- request: {body: *top, headers: {}, method: POST, uri: 'http://x/'}\n"
    "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\n"
    "version: 1\n"
)


def _bomb(levels: int) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f"top: &top [*l{levels - 1}]")
    return "\n".join(lines) + "\n" + TAIL


def test_an_alias_bomb_is_refused_without_being_expanded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(9), encoding="utf-8")
    assert path.stat().st_size < 700
    with pytest.raises(CassetteLoadError, match="aliases expand to over"):
        load_cassette(path)
    (finding,) = check_file(path)
    assert "alias" in finding.problem


def test_a_few_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(_bomb(3), encoding="utf-8")  # 9 * 9 * 9 nodes: well under the bound
    assert MAX_ALIAS_NODES > 9**3
    (item,) = load_cassette(path).interactions
    assert item.response.status == 200


def test_cassette_folders_are_searched_recursively_skipping_hidden_ones(tmp_path: Path) -> None:
    # pytest-recording's layout: tests/cassettes/<module>/<test>.yaml.
    for name in ("top.yaml", "test_a/one.yaml", "test_a/deep/two.yml", ".hidden/no.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("interactions: []\n", encoding="utf-8")
    (tmp_path / "test_a" / ".one.yaml.abcd1234.tmp").write_text("", encoding="utf-8")
    (tmp_path / "test_a" / "notes.txt").write_text("", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in cassette_paths(tmp_path)]
    assert found == ["test_a/deep/two.yml", "test_a/one.yaml", "top.yaml"]
    assert cassette_paths(tmp_path, recursive=False) == [tmp_path / "top.yaml"]
