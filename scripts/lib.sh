# Shared by scripts/setup.sh and scripts/demo.sh (sourced, not run): install what is missing from
# Debian's packages, and the npm packages pinned by a lockfile.

# apt_install PKG...: installs the given Debian packages (as root, or through sudo).
apt_install() {
  [ $# -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing $*; install them with your system's package manager (apt-get is not available)" >&2
    exit 1
  fi
  echo "setup: installing $* from Debian's packages"
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}

# need_openssl: adds what josekit's OpenSSL build needs (pkg-config, the OpenSSL headers) to the
# array `need_apt` when missing.
need_openssl() {
  command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
  if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl; then
    need_apt+=(libssl-dev)
  fi
}

# need_node: adds nodejs/npm to the array `need_apt` when missing.
need_node() {
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
}

# install_npm DIR: `npm ci` in DIR, skipped when node_modules already matches the lockfile.
install_npm() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || ! cmp -s "$dir/package-lock.json" "$dir/.installed-lock"; then
    echo "setup: npm ci in $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    cp "$dir/package-lock.json" "$dir/.installed-lock"
  fi
}

# warn_old_node MAJOR: warns when Node.js is older than MAJOR (Debian 12's own nodejs is 18;
# playwright-core, which drives the browser test, needs 20).
warn_old_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt "$1" ]; then
    echo "setup: warning: Node.js $(node --version 2>/dev/null) is older than $1; the browser test needs Node.js >= $1" >&2
  fi
}

# install_venv DIR: a Python virtualenv in DIR/.venv with DIR/requirements.txt, skipped when it
# already matches the requirements.
install_venv() {
  local dir=$1
  if [ ! -x "$dir/.venv/bin/python" ] || ! cmp -s "$dir/requirements.txt" "$dir/.venv/.installed-requirements"; then
    echo "setup: python venv in $dir"
    python3 -m venv "$dir/.venv"
    "$dir/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
    cp "$dir/requirements.txt" "$dir/.venv/.installed-requirements"
  fi
}
