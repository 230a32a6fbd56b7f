#!/usr/bin/env bash
# Set up corral for development and testing on Debian/Ubuntu: system packages (as root, via apt-get),
# a virtualenv in .venv, the core and every plugin installed editable, and the test tools.
# Usage: ./install.sh            (idempotent; CORRAL_SKIP_APT=1 skips the system packages)
set -euo pipefail
cd "$(dirname "$0")"

# The core's tools (systemd for systemd-analyze, which checks `corral schedule`'s units in the tests), plus what each
# plugin and the test servers list in their requirements-system.txt.
SYSTEM_PACKAGES=(tar gzip zstd pigz age util-linux python3-venv systemd zsh bash-completion sqlite3)
for list in plugins/*/*/requirements-system.txt testing/*/requirements-system.txt console/requirements-system.txt; do
  [ -f "$list" ] || continue
  mapfile -t -O "${#SYSTEM_PACKAGES[@]}" SYSTEM_PACKAGES < <(sed 's/#.*//; /^\s*$/d; s/\s//g' "$list")
done
mapfile -t SYSTEM_PACKAGES < <(printf '%s\n' "${SYSTEM_PACKAGES[@]}" | sort -u)

if [ "${CORRAL_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "install.sh: installing system packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || echo "install.sh: apt-get update failed; trying with the current package lists"
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

# nginx's program for corral discover's `nginx -T` test, unpacked into .venv/nginx, not installed: an installed
# nginx makes the machine a web server, whose default site every test's `corral start` then reports as not backed up
if [ "${CORRAL_SKIP_APT:-0}" != 1 ] && [ ! -x .venv/nginx/usr/sbin/nginx ] && command -v apt-get >/dev/null; then
  deb_dir=$(mktemp -d)
  if (cd "$deb_dir" && apt-get download -qq -o APT::Sandbox::User=root nginx) \
     && dpkg-deb -x "$(ls "$deb_dir"/nginx_*.deb)" .venv/nginx; then
    echo "install.sh: nginx unpacked into .venv/nginx (for tests only)"
  else
    echo "install.sh: nginx could not be unpacked into .venv/nginx: discover's nginx -T test cannot run"
  fi
  rm -rf "$deb_dir"
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip hatchling editables setuptools wheel
"${PIP[@]}" -r requirements-dev.txt
# Every distribution of the monorepo, editable, without build isolation (hatchling is already here).
projects=(core console)
for dir in plugins/*/*/ testing/*/; do
  case "$dir" in plugins/_*) continue;; esac
  [ -f "$dir/pyproject.toml" ] && projects+=("$dir")
done
args=()
for project in "${projects[@]}"; do args+=(-e "$project"); done
# boto3 (benchmarks only) resolves together with s3fs's aiobotocore pin, so it goes in the same command
"${PIP[@]}" --no-build-isolation "${args[@]}" boto3
# Editable sources get no bytecode from pip: compile them once, so a shell with PYTHONDONTWRITEBYTECODE set does
# not compile them again at every run of corral (0.2 s of each start here)
.venv/bin/python -m compileall -q -j 0 core/src console/src plugins/*/*/src testing/*/src >/dev/null
echo "install.sh: ready: .venv/bin/corral, tests: .venv/bin/pytest"
