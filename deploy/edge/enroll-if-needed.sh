#!/bin/sh
# ExecStartPre of medfleet-agent.service: enroll once. `medfleet-agent enroll` refuses to replace a stored
# identity (ALREADY_ENROLLED, exit 1), so this checks first and is a no-op once identity.json exists.
# Settings come from the unit's EnvironmentFile(s): MEDFLEET_SERVER, MEDFLEET_ENROLLMENT_TOKEN, and
# MEDFLEET_ENROLL_ARGS for extra options (e.g. --insecure on a lab network).
set -eu

AGENT="${MEDFLEET_AGENT_BIN:-/opt/medfleet-agent/dist/main.js}"
STATE_DIR="${MEDFLEET_STATE_DIR:-/var/lib/medfleet-agent}"

if [ -s "$STATE_DIR/identity.json" ]; then
  exit 0
fi
if [ -z "${MEDFLEET_SERVER:-}" ] || [ -z "${MEDFLEET_ENROLLMENT_TOKEN:-}" ]; then
  echo "medfleet-agent: not enrolled and MEDFLEET_SERVER / MEDFLEET_ENROLLMENT_TOKEN are not set;" \
    "put them in /boot/firmware/medfleet.env or /etc/medfleet/agent.env" >&2
  exit 1
fi
# MEDFLEET_ENROLL_ARGS is split on spaces on purpose: it holds options, not a path.
# shellcheck disable=SC2086
exec "$AGENT" enroll --state-dir "$STATE_DIR" ${MEDFLEET_ENROLL_ARGS:-}
