#!/usr/bin/env bash
# The one test command, for developers and CI alike:  bash scripts/test.sh [pytest args]
#
# Installs the package with its test extra, installs the Debian packages the
# integration tests need (sshd, rsync, tmux, nginx + WebDAV, Samba) when running as root
# and they are missing, builds the copick venvs of tests/compat, then runs ruff,
# import-linter and pytest.  With CI=true the server
# fixtures fail instead of skipping (SYNCTUI_REQUIRE_SERVERS=1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

python -m pip install -q -e ".[test]"

# command -> Debian package that provides it
declare -A NEEDED_COMMANDS=(
    [sshd]=openssh-server
    [ssh]=openssh-client
    [ssh-keygen]=openssh-client
    [rsync]=rsync
    [tmux]=tmux
    [nginx]=nginx
    [smbd]=samba
    [smbclient]=smbclient
)
# packages that provide no command of their own
NEEDED_PACKAGES=(libnginx-mod-http-dav-ext)

missing=()
for cmd in "${!NEEDED_COMMANDS[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
        missing+=("${NEEDED_COMMANDS[$cmd]}")
    fi
done
for pkg in "${NEEDED_PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    # de-duplicate, keep it stable
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "scripts/test.sh: missing ${missing[*]} (not root or no apt-get):" \
             "server tests will skip" >&2
    fi
fi

if [ "${CI:-}" = "true" ]; then
    export SYNCTUI_REQUIRE_SERVERS=1
fi

ruff check synctui tests bench scripts
# the layers of DESIGN.md section 1, as the contracts in pyproject.toml state them
lint-imports --no-cache

# copick 1.31.0 and 2.0.0a6 for tests/compat, each in its own venv (copick is never a
# dependency of synctui).  Cached in $SYNCTUI_COMPAT_VENVS (default ~/.cache/synctui), so
# only the first run installs (a few minutes); later runs check a stamp file.  Without a
# network the build fails and tests/compat skips, or fails in CI.
export SYNCTUI_COMPAT_VENVS="${SYNCTUI_COMPAT_VENVS:-$HOME/.cache/synctui}"
if ! python tests/compat/venvs.py; then
    echo "scripts/test.sh: a copick venv could not be built (see above)" >&2
    if [ "${CI:-}" = "true" ]; then
        exit 1
    fi
fi

# set -e makes any non-zero pytest status fail the script, including 5 (no tests ran).
status=0
# Two worker processes (pytest-xdist): much of the suite waits on servers and subprocesses,
# so two share the machine's cores well.  SYNCTUI_TEST_WORKERS=0 runs in one process.
python -m pytest -q -p no:cacheprovider -n "${SYNCTUI_TEST_WORKERS:-2}" "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "scripts/test.sh: pytest collected no tests" >&2
fi
exit "$status"
