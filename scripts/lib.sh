# Helpers shared by scripts/serve and scripts/test (sourced, not run).

is_ci() {
  case "${CI:-}" in "" | 0 | false | False | FALSE | no) return 1 ;; *) return 0 ;; esac
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt_packages package:command ...: install the Debian packages whose command is missing.
ensure_apt_packages() {
  local entry package command missing=()
  for entry in "$@"; do
    package=${entry%%:*} command=${entry##*:}
    command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ] || missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  echo "== installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# find_python 3.12: the path of a working CPython 3.12 (pyenv's newest patch release first,
# then python3.12 on PATH), or fail.
find_python() {
  local version=$1 candidate
  local root=${PYENV_ROOT:-$HOME/.pyenv}
  for candidate in $(ls -d "$root"/versions/"$version".* 2>/dev/null | sort -V -r) ; do
    if "$candidate/bin/python$version" -c 'import venv' >/dev/null 2>&1; then
      echo "$candidate/bin/python$version"
      return 0
    fi
  done
  candidate=$(command -v "python$version" 2>/dev/null) || return 1
  "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$version'.split('.')))" \
    >/dev/null 2>&1 || return 1
  echo "$candidate"
}

# find_any_python: the newest supported CPython (3.13, 3.12, then 3.11) that find_python finds,
# or python3 on PATH when it is 3.11 or newer; fails when there is none.
find_any_python() {
  local version candidate
  for version in 3.13 3.12 3.11; do
    find_python "$version" && return 0
  done
  candidate=$(command -v python3 2>/dev/null) || return 1
  "$candidate" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 || return 1
  echo "$candidate"
}

# make_venv PYTHON DIR PIP-ARGS...: a virtual environment in DIR with PIP-ARGS installed.
# Debian's python3 ships without venv's pip bootstrap (PEP 668 forbids installing into the
# system Python): install python3-venv when creating the environment fails for that reason.
make_venv() {
  local python=$1 dir=$2
  shift 2
  if [ ! -x "$dir/bin/python" ]; then
    if ! "$python" -m venv "$dir" >/dev/null 2>&1; then
      rm -rf "$dir"
      local minor
      minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      echo "== installing python$minor-venv (needed to create $dir)"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "python$minor-venv" >/dev/null
      "$python" -m venv "$dir"
    fi
  fi
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
}
