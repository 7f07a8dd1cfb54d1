# Shared by scripts/tools/*.sh (sourced, from the repository root): install only what is missing.

# apt_install_missing COMMAND PACKAGE: install a Debian package when its command is not on PATH.
apt_install_missing() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 $sudo apt-get update -qq
  timeout 600 $sudo apt-get install -y -qq --no-install-recommends "$2"
}

# npm_install_pinned NAME@VERSION ...: into .tools/node, unless every one is already at its version.
npm_install_pinned() {
  local spec name version missing=0
  for spec in "$@"; do
    name=${spec%@*}
    version=${spec##*@}
    [ "$(node -p "require('./.tools/node/node_modules/$name/package.json').version" 2>/dev/null)" = "$version" ] ||
      missing=1
  done
  [ "$missing" = 1 ] || return 0
  mkdir -p .tools/node
  timeout 300 npm install --prefix .tools/node --no-audit --no-fund --save-exact --loglevel=error "$@"
}
