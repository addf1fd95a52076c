#!/bin/sh
# Builds dist/medfleet-agent_<version>_<arch>.deb with dpkg-deb from the agent's bundle.
#
#   deploy/edge/build-deb.sh [<arch>] [--bundle <dir>] [--out <dir>]
#
# <arch> defaults to `dpkg --print-architecture`. The bundle (default: built now into dist/medfleet-agent)
# carries better-sqlite3's compiled .node, which must have been built on/for <arch>: the script refuses a
# mismatch. Build the arm64 package on an arm64 machine (a Pi, an arm64 CI runner, or qemu-user).
set -eu

die() { echo "build-deb.sh: $*" >&2; exit 1; }

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
workspace=$(CDPATH='' cd -- "$script_dir/../.." && pwd)
arch=""
bundle=""
out="$workspace/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || die "--bundle needs a directory"; bundle=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$arch" ] || die "one architecture only"; arch=$1; shift ;;
  esac
done
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (apt-get install dpkg)"
[ -n "$arch" ] || arch=$(dpkg --print-architecture)

if [ -z "$bundle" ]; then
  bundle="$workspace/dist/medfleet-agent"
  node "$workspace/apps/edge-agent/scripts/bundle.mjs" --out "$bundle"
fi
[ -f "$bundle/dist/main.js" ] || die "$bundle is not a bundle (no dist/main.js)"
native="$bundle/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
[ -f "$native" ] || die "$native is missing"

# ELF e_machine (bytes 18-19, little endian) of the native module against the package architecture.
case "$arch" in
  amd64) want=62 ;;
  arm64) want=183 ;;
  armhf | armel) want=40 ;;
  riscv64) want=243 ;;
  i386) want=3 ;;
  *) die "unsupported architecture $arch" ;;
esac
got=$(od -An -t u2 -j 18 -N 2 "$native" | tr -d ' ')
[ "$got" = "$want" ] ||
  die "better_sqlite3.node is built for ELF machine $got, not $arch ($want): build the bundle on $arch"

version=$(node -p "JSON.parse(require('fs').readFileSync('$bundle/package.json', 'utf8')).version")
package="medfleet-agent_${version}_${arch}"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
tree="$staging/$package"

# /opt/medfleet-agent: the bundle as install.sh lays it out.
opt="$tree/opt/medfleet-agent"
mkdir -p "$opt"
cp -R "$bundle/package.json" "$bundle/dist" "$bundle/proto" "$bundle/node_modules" "$opt/"
cp "$script_dir/README.md" "$opt/README.md"
mkdir -p "$tree/usr/bin" "$tree/usr/lib/systemd/system" "$tree/etc/medfleet" "$tree/DEBIAN"
ln -s ../../opt/medfleet-agent/dist/main.js "$tree/usr/bin/medfleet-agent"
cp "$script_dir/medfleet-agent.service" "$tree/usr/lib/systemd/system/medfleet-agent.service"
cp "$script_dir/agent.env" "$tree/etc/medfleet/agent.env"
find "$tree" -type d -exec chmod 755 {} +
find "$tree" -type f -exec chmod 644 {} +
chmod 755 "$opt/dist/main.js"
# It will hold the enrollment token.
chmod 600 "$tree/etc/medfleet/agent.env"

for script in postinst prerm postrm; do
  cp "$script_dir/debian/$script" "$tree/DEBIAN/$script"
  chmod 755 "$tree/DEBIAN/$script"
done
echo /etc/medfleet/agent.env >"$tree/DEBIAN/conffiles"
chmod 644 "$tree/DEBIAN/conffiles"

installed_size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
cat >"$tree/DEBIAN/control" <<CONTROL
Package: medfleet-agent
Version: $version
Architecture: $arch
Maintainer: Medfleet <ops@medfleet.invalid>
Installed-Size: $installed_size
Depends: nodejs (>= 20), passwd
Section: net
Priority: optional
Homepage: https://medfleet.invalid
Description: Medfleet edge agent
 Enrolls a clinic's gateway with the Medfleet control plane and reports the
 site's devices and its own health over MQTT, keeping every message in a
 durable outbox until the control plane acknowledges it. Runs as the
 hardened systemd service medfleet-agent.
CONTROL
chmod 644 "$tree/DEBIAN/control"

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$tree" "$out/$package.deb" >/dev/null
echo "$out/$package.deb"
