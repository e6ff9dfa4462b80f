# Create or reuse the project's environment in .venv/ at the repository root.
#
# Sourced by run.sh and test.sh. The package is installed in editable mode
# with the extras passed to ensure_venv. A stamp file records the hash
# of setup.cfg and the extras, so a rerun skips pip when nothing changed.

find_python() {
    for candidate in python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 not found on PATH; install it (for example with pyenv) and rerun" >&2
    return 1
}

ensure_venv() {
    local extras="$1"
    local stamp=".venv/.discrepancy-install-stamp"
    local wanted
    wanted="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1) extras=${extras}"

    if [ ! -x .venv/bin/python ]; then
        local python
        python="$(find_python)"
        echo "creating .venv with $python" >&2
        "$python" -m venv .venv
    fi

    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
        echo "installing discrepancy[${extras}] into .venv (first run takes a few minutes)" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".[${extras}]"
        echo "$wanted" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
    fi
}
