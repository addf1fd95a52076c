#!/bin/sh
# Installs the Medfleet edge agent on Raspberry Pi OS (arm64) or a Debian/Ubuntu mini-PC, as a systemd service.
#
#   sudo ./install.sh [--bundle <dir>] [--no-start]     install or upgrade (idempotent)
#   sudo ./install.sh --uninstall [--purge]             remove; --purge also deletes state, settings, user
#   ./install.sh --root <dir> [...]                     lay the files out under <dir> only: no user, no chown,
#                                                       no systemctl (image building, tests)
#
# The bundle is `npx nx run edge-agent:bundle` (dist/medfleet-agent); by default the one beside this script
# (inside a copied bundle) or in the workspace's dist/. Its native module must match this machine's
# architecture and Node.js major version: build it on the same kind of machine.
set -eu

APP_NAME=medfleet-agent
SERVICE_USER=medfleet-agent
MIN_NODE_MAJOR=20

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "install.sh: $*"; }

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=""
bundle=""
mode=install
purge=no
start=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --bundle) [ $# -ge 2 ] || die "--bundle needs a directory"; bundle=$2; shift 2 ;;
    --bundle=*) bundle=${1#--bundle=}; shift ;;
    --uninstall) mode=uninstall; shift ;;
    --purge) purge=yes; shift ;;
    --no-start) start=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(CDPATH='' cd -- "$root" && pwd)
  [ "$root" != / ] || root=""
fi
live=yes
[ -z "$root" ] || live=no

opt_dir="$root/opt/$APP_NAME"
unit_file="$root/etc/systemd/system/$APP_NAME.service"
env_dir="$root/etc/medfleet"
state_dir="$root/var/lib/$APP_NAME"
bin_link="$root/usr/local/bin/$APP_NAME"

if [ "$live" = yes ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0), or with --root <dir> to lay the files out elsewhere"
fi
have_systemd() { [ "$live" = yes ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

uninstall() {
  if have_systemd; then
    systemctl disable --now "$APP_NAME.service" >/dev/null 2>&1 || true
  fi
  rm -f "$unit_file" "$bin_link"
  rm -rf "$opt_dir"
  if have_systemd; then systemctl daemon-reload; fi
  if [ "$purge" = yes ]; then
    rm -rf "$state_dir" "$env_dir/agent.env"
    rmdir "$env_dir" 2>/dev/null || true
    if [ "$live" = yes ] && id "$SERVICE_USER" >/dev/null 2>&1; then
      userdel "$SERVICE_USER" >/dev/null 2>&1 || log "could not remove user $SERVICE_USER"
    fi
    log "removed $APP_NAME with its state and settings"
  else
    log "removed $APP_NAME; kept its state ($state_dir) and settings ($env_dir); --purge deletes them"
  fi
}

check_node() {
  node_bin=$(command -v node 2>/dev/null || true)
  how="Install Node.js $MIN_NODE_MAJOR or newer: on Debian 13 / Ubuntu 24.04 'apt-get install nodejs' is enough;
on Raspberry Pi OS / Debian 12 / Ubuntu 22.04 use the NodeSource packages (deb.nodesource.com, node_20.x or
node_22.x) or the official linux-arm64 / linux-x64 tarball unpacked into /usr/local. It must be on the
service's PATH (/usr/local/bin or /usr/bin), not in a home directory (the unit has ProtectHome=yes)."
  if [ -z "$node_bin" ]; then
    [ "$live" = no ] && { log "warning: node not found on this machine"; return 0; }
    die "Node.js not found. $how"
  fi
  major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt "$MIN_NODE_MAJOR" ]; then
    [ "$live" = no ] && { log "warning: node $major on this machine is older than $MIN_NODE_MAJOR"; return 0; }
    die "Node.js $("$node_bin" --version) is too old, $MIN_NODE_MAJOR or newer is needed. $how"
  fi
  case "$node_bin" in
    /root/* | /home/*)
      [ "$live" = no ] || die "node is at $node_bin, which the service cannot see. $how" ;;
  esac
}

find_bundle() {
  if [ -z "$bundle" ]; then
    for candidate in "$script_dir" "$script_dir/../../dist/$APP_NAME"; do
      if [ -f "$candidate/dist/main.js" ]; then bundle=$candidate; break; fi
    done
  fi
  if [ -z "$bundle" ] || [ ! -f "$bundle/dist/main.js" ]; then
    die "no bundle found; build it with 'npx nx run edge-agent:bundle' or pass --bundle <dir>"
  fi
  if [ ! -f "$bundle/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
    die "$bundle has no better_sqlite3.node; rebuild the bundle"
  fi
  bundle=$(CDPATH='' cd -- "$bundle" && pwd)
}

# The unit and the enroll helper come with this script (deploy/edge/) or inside the bundle.
find_file() {
  for candidate in "$script_dir/$1" "$bundle/$1" "$bundle/share/$1"; do
    if [ -f "$candidate" ]; then echo "$candidate"; return 0; fi
  done
  die "$1 not found next to install.sh or in the bundle"
}

install_agent() {
  check_node
  find_bundle
  unit_src=$(find_file "$APP_NAME.service")
  env_src=$(find_file agent.env)

  if [ "$live" = yes ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "/var/lib/$APP_NAME" --no-create-home \
      --shell /usr/sbin/nologin --comment "Medfleet edge agent" "$SERVICE_USER"
    log "created system user $SERVICE_USER"
  fi

  # Replace the program as a whole (a half-old node_modules would be worse than none), via a staging copy.
  mkdir -p "$root/opt"
  staging="$root/opt/.$APP_NAME.new"
  rm -rf "$staging"
  mkdir -p "$staging"
  cp -R "$bundle/package.json" "$bundle/dist" "$bundle/proto" "$bundle/node_modules" "$staging/"
  if [ -f "$script_dir/README.md" ]; then cp "$script_dir/README.md" "$staging/README.md"; fi
  chmod -R u=rwX,go=rX "$staging"
  chmod 755 "$staging/dist/main.js"
  rm -rf "$opt_dir"
  mv "$staging" "$opt_dir"

  mkdir -p "$(dirname "$bin_link")"
  ln -sfn "/opt/$APP_NAME/dist/main.js" "$bin_link"

  mkdir -p "$(dirname "$unit_file")"
  cp "$unit_src" "$unit_file"
  chmod 644 "$unit_file"

  mkdir -p "$env_dir"
  chmod 755 "$env_dir"
  if [ ! -e "$env_dir/agent.env" ]; then
    # Holds the enrollment token: root only (systemd reads it before dropping privileges).
    cp "$env_src" "$env_dir/agent.env"
    chmod 600 "$env_dir/agent.env"
  fi

  mkdir -p "$state_dir"
  chmod 700 "$state_dir"
  if [ "$live" = yes ]; then
    chown "$SERVICE_USER:$SERVICE_USER" "$state_dir"
    # The native module must load with this node (same architecture, same ABI).
    node -e "new (require('$opt_dir/node_modules/better-sqlite3'))(':memory:').close()" ||
      die "better-sqlite3 does not load with $(node --version) on $(uname -m): build the bundle on this kind of machine"
  fi
  log "installed $("$opt_dir/dist/main.js" --version 2>/dev/null || echo "$APP_NAME") to ${root:-}/opt/$APP_NAME"

  if have_systemd; then
    systemctl daemon-reload
    systemctl enable "$APP_NAME.service" >/dev/null
    if [ "$start" = yes ]; then
      systemctl restart "$APP_NAME.service"
      log "started; follow it with: journalctl -u $APP_NAME -f"
    fi
  elif [ "$live" = yes ]; then
    log "systemd is not running here; enable the unit with: systemctl enable --now $APP_NAME"
  fi
  if ! grep -qs '^MEDFLEET_ENROLLMENT_TOKEN=.' "$env_dir/agent.env" "$root/boot/firmware/medfleet.env" &&
    ! grep -qsi '^ *token *[=:]' "$root/boot/firmware/medfleet.conf" &&
    [ ! -s "$state_dir/identity.json" ]; then
    log "not enrolled yet: set MEDFLEET_SERVER and MEDFLEET_ENROLLMENT_TOKEN in /etc/medfleet/agent.env" \
      "(or token and server in /boot/firmware/medfleet.conf), then: systemctl restart $APP_NAME"
  fi
}

if [ "$mode" = uninstall ]; then uninstall; else install_agent; fi
