#!/usr/bin/env bash
# Every bench of issue #18, one after another, as the README's performance figures were
# taken: from a clean clone, with synctui installed as the quick start installs it (not
# editable: an editable install's import hook costs every start about 10 ms), nothing else
# running, a pause after each bench for the disk to write back.
#
#   bash bench/issue18.sh [OUT_DIR]        (default bench/out/; about 50 minutes)
#   SMALL=1 bash bench/issue18.sh          (each bench's quick check: a few minutes)
#
# The SSH benches need sshd and rsync (scripts/test.sh installs them), the rclone column
# Debian's rclone; each bench's output goes to OUT_DIR/<name>.txt, the start and end times
# with the load average to OUT_DIR/times.txt.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-bench/out}"
mkdir -p "$out"
unset PYTHONDONTWRITEBYTECODE  # an installed synctui has its bytecode
python -m pip install -q . > "$out/install.log" 2>&1 || { echo "pip install . failed: $out/install.log"; exit 1; }
git log --oneline -1 > "$out/commit.txt" 2>/dev/null || true

failed=()
pause=${SMALL:+1}
run() {
    local name=$1 rc=0
    shift
    { echo "== $(date -u +%H:%M:%S) start $name: $*"; uptime; } >> "$out/times.txt"
    "$@" > "$out/$name.txt" 2>&1 || rc=$?
    echo "rc=$rc" >> "$out/$name.txt"
    echo "== $(date -u +%H:%M:%S) end $name" >> "$out/times.txt"
    [ "$rc" -eq 0 ] || failed+=("$name")
    sync
    sleep "${pause:-20}"
}

if [ -n "${SMALL:-}" ]; then
    quick=(--small) files=(--files 5000) rounds=(--small)
else
    quick=(--repeat 3) files=(--files 100000) rounds=(--repeat 15)
fi
run startup python bench/startup.py "${rounds[@]}"
run scan python bench/scan_local.py "${files[@]}"
run plan python bench/plan_100k.py "${files[@]}"
run ssh python bench/ssh_sync.py --tools synctui-api,synctui-cli,rsync "${quick[@]}"
run rtt python bench/ssh_sync.py --rtt-ms 20 --tools synctui-api,synctui-cli,rsync,rclone \
    --rclone-timeout 300 "${quick[@]}"
run local_a python bench/sync_local.py --sets a "${quick[@]}"
run local_c python bench/sync_local.py --sets c "${quick[@]}"
run local_b python bench/sync_local.py --sets b "${quick[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed: ${failed[*]} (see $out/<name>.txt)"
    exit 1
fi
echo "done: $out"
