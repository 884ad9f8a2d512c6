# Shared by scripts/demo and scripts/test: make .venv with porthub installed (editable).
# Sourced, not run. Installs Debian's python3-venv first when it is missing and we are root.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "porthub: need root to run: $*" >&2; return 1; fi
}

apt_install() {
    # apt_install PACKAGE...: install the Debian packages that are not there yet.
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "porthub: installing ${missing[*]} from Debian's packages" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
    # ensure_venv [EXTRAS]: .venv with porthub (and the extras, e.g. test) installed.
    local extras="${1:-}"
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        apt_install python3-venv python3-pip
    fi
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
        .venv/bin/python -m pip install -q --upgrade pip
    fi
    local spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    .venv/bin/python -m pip install -q -e "$spec"
}
