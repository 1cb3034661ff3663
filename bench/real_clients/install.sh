#!/usr/bin/env bash
# Install one release of a real Websim client into its own virtual environment.
#   install.sh g4f 0.5.4.0            -> $VENVS/g4f-0.5.4.0
#   install.sh webscout 8.2.3         -> $VENVS/webscout-8.2.3
# VENVS defaults to .venvs beside this script. Prints the venv's python on the last line.
set -euo pipefail
client=${1:?client: g4f or webscout}
version=${2:?version}
VENVS=${VENVS:-"$(cd "$(dirname "$0")" && pwd)/.venvs"}
venv="$VENVS/$client-$version"
py=${PYTHON:-python3}

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('$client') == '$version'" 2>/dev/null; then
  echo "$venv/bin/python"; exit 0
fi
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)

case "$client" in
  g4f)
    # Full install first; some releases pin packages that no longer build: then the few the
    # Websim path needs (aiohttp, requests for raise_for_status's import, and g4f's import-time deps).
    if ! "${pip[@]}" "g4f==$version" >"$venv/install.log" 2>&1; then
      "${pip[@]}" --no-deps "g4f==$version"
      "${pip[@]}" aiohttp requests brotli pycryptodome nest_asyncio
    fi
    # Some releases import nodriver / curl_cffi opportunistically; install them if the import fails.
    if ! "$venv/bin/python" -c "import g4f.Provider" >/dev/null 2>&1; then
      "${pip[@]}" nodriver curl_cffi >>"$venv/install.log" 2>&1 || true
    fi
    ;;
  webscout)
    # Its pinned pyreqwest-impersonate has no wheel here: install without deps, then the deps the
    # package declares minus the ones that do not install, retrying by elimination.
    "${pip[@]}" --no-deps "webscout==$version"
    deps=$("$venv/bin/python" - <<'EOF'
import importlib.metadata as m, re
skip = {"pyreqwest-impersonate", "pyreqwest_impersonate"}
out = []
for r in m.requires("webscout") or []:
    if "extra ==" in r:
        continue
    name = re.split(r"[ ;<>=!~\[]", r, 1)[0]
    if name.lower() not in skip:
        out.append(r.split(";")[0].strip())
print("\n".join(out))
EOF
)
    while read -r dep; do
      [ -n "$dep" ] && { "${pip[@]}" "$dep" >>"$venv/install.log" 2>&1 || echo "skip $dep" >&2; }
    done <<<"$deps"
    ;;
  *) echo "unknown client $client" >&2; exit 2 ;;
esac
echo "$venv/bin/python"
