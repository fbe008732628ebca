# Sourced by scripts/run and scripts/test: makes .venv when missing and installs Podium into it.
# PODIUM_PYTHON picks the interpreter that creates the venv (default: python3, which must be >= 3.11).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py=${PODIUM_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Podium needs Python >= 3.11 (set PODIUM_PYTHON)" >&2; exit 1; }
  "$py" -m venv .venv
fi
VPY="$root/.venv/bin/python"
extra=${1:-}
spec=.; [ -z "$extra" ] || spec=".[$extra]"
stamp=.venv/.podium-installed-${extra:-base}
# Reinstall when pyproject.toml changes; an editable install follows source edits by itself.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VPY" -m pip install -q --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
