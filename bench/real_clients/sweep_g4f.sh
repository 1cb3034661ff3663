#!/usr/bin/env bash
# Every g4f release with a Websim provider, run from its unpacked wheel on PYTHONPATH with the
# interpreter of the nearest installed representative venv (same dependencies era).
#   ./sweep_g4f.sh http://127.0.0.1:8787 [matrix.py options...]     (OUT=results/sweep by default)
# Needs: dl/g4f/versions.txt, unpacked/g4f-X (wheels unpacked), venvs/g4f-R for each rep R below.
MOCK=${1:?mock url}; shift; OUT=${OUT:-results/sweep}
reps=(0.4.9.0 0.4.9.2 0.4.9.7 0.4.9.9 0.5.0.2 0.5.1.1 0.5.4.0 0.5.6.5 0.5.7.4 0.6.2.5 0.6.2.9 0.6.3.2 6.7.1)
mkdir -p "$OUT"
while read -r v; do
  [ -f unpacked/g4f-$v/g4f/requests/raise_for_status.py ] || continue
  ls unpacked/g4f-$v/g4f/Provider/Websim.py unpacked/g4f-$v/g4f/Provider/not_working/Websim.py >/dev/null 2>&1 || { ls unpacked/g4f-$v/g4f/Provider/Websim.py >/dev/null 2>&1 || ls unpacked/g4f-$v/g4f/Provider/not_working/Websim.py >/dev/null 2>&1 || continue; }
  rep=${reps[0]}
  for r in "${reps[@]}"; do
    if [ "$(printf '%s\n%s\n' "$r" "$v" | sort -V | head -1)" = "$r" ]; then rep=$r; fi
  done
  PYTHONPATH=$PWD/unpacked/g4f-$v timeout 300 venvs/g4f-$rep/bin/python matrix.py --client g4f --mock "$MOCK" "$@" --json "$OUT/g4f-$v.json" > "$OUT/g4f-$v.txt" 2>&1
  echo "$v (python of $rep) rc=$? $(tail -1 "$OUT/g4f-$v.txt")"
done < dl/g4f/versions.txt
