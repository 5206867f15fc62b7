#!/usr/bin/env bash
# Every bench of issue #18, one after another, as the README's performance figures were
# taken: from a clean clone, with synctui installed as the quick start installs it (not
# editable: an editable install's import hook costs every start about 10 ms), nothing else
# running, a pause after each bench for the disk to write back.
#
#   bash bench/issue18.sh [OUT_DIR]        (default bench-out/; about 50 minutes)
#
# The SSH benches need sshd and rsync (scripts/test.sh installs them), the rclone column
# Debian's rclone; each bench's output goes to OUT_DIR/<name>.txt, the start and end times
# with the load average to OUT_DIR/times.txt.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-bench-out}"
mkdir -p "$out"
unset PYTHONDONTWRITEBYTECODE  # an installed synctui has its bytecode
python -m pip install -q . > "$out/install.log" 2>&1 || { echo "pip install . failed: $out/install.log"; exit 1; }
git log --oneline -1 > "$out/commit.txt" 2>/dev/null || true

run() {
    local name=$1
    shift
    { echo "== $(date -u +%H:%M:%S) start $name: $*"; uptime; } >> "$out/times.txt"
    "$@" > "$out/$name.txt" 2>&1
    echo "rc=$?" >> "$out/$name.txt"
    echo "== $(date -u +%H:%M:%S) end $name" >> "$out/times.txt"
    sync
    sleep 20
}

run startup python bench/startup.py
run scan python bench/scan_local.py --files 100000
run plan python bench/plan_100k.py
run ssh python bench/ssh_sync.py --tools synctui-api,synctui-cli,rsync --repeat 3
run rtt python bench/ssh_sync.py --rtt-ms 20 --tools synctui-api,synctui-cli,rsync,rclone --rclone-timeout 300 --repeat 3
run local_a python bench/sync_local.py --sets a --repeat 3
run local_c python bench/sync_local.py --sets c --repeat 3
run local_b python bench/sync_local.py --sets b --repeat 3
echo "done: $out"
