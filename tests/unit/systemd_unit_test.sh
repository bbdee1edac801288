#!/usr/bin/env bash
# deploy/outbox-relay.service passes `systemd-analyze verify` (which also warns about settings it
# ignores, so any output fails the test) and its ExecStart uses only flags `outbox relay` accepts.
# verify needs the ExecStart binary to exist: a copy of the unit points it at the built `outbox`.
#   systemd_unit_test.sh UNIT OUTBOX_BINARY
set -euo pipefail
unit=$1 outbox=$2
command -v systemd-analyze > /dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=/usr/local/bin/outbox |ExecStart=$outbox |" "$unit" > "$dir/outbox-relay.service"
grep -q "^ExecStart=$outbox relay " "$dir/outbox-relay.service" || {
  echo "the unit's ExecStart does not start with /usr/local/bin/outbox relay; update this test with it" >&2
  exit 1
}
out=$(systemd-analyze verify "$dir/outbox-relay.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [[ -n $out ]]; then
  echo "systemd-analyze verify warned (fix the unit):" >&2
  echo "$out" >&2
  exit 1
fi
help=$("$outbox" relay --help)
for flag in $(grep '^ExecStart=' "$unit" | grep -o -- ' --[a-z-]*'); do
  grep -q -- "$flag" <<< "$help" || { echo "ExecStart uses $flag, which outbox relay does not accept" >&2; exit 1; }
done
echo "deploy/outbox-relay.service verified"
