#!/usr/bin/env bash
# rotation-demo — a database password rotated under a running program in two phases, with no failed
# request (the README's "Delivering secrets to programs"). Run it with a cluster up (npm start or
# npm run cluster) and coffer's usual settings (COFFER_ENDPOINTS, certs/ of this checkout):
#
#   npm run demo
#
# 1. Secret demo-db holds the password. The database (scripts/demo/database.ts) reads it from files
#    that `coffer render --stage pending` keeps current; the app (scripts/demo/app.ts) gets it as
#    DB_PASSWORD from `coffer exec`, which restarts the app when the current password changes.
# 2. `coffer secret rotate demo-db --generate password:32 --stage` stages a new password: the database,
#    pinned to the pending stage, takes it and still accepts the old one; the app goes on as it is.
# 3. `coffer secret promote demo-db` makes it current: exec restarts the app with the new password.
# The database counts every refused request, the app every failed one: the demo fails unless both are 0.
# Values are never printed. Working files go to data/demo/ (ignored by git), or to DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
coffer=${COFFER:-bin/coffer}
demo=${DEMO_DIR:-data/demo}
node_ts="node --import tsx"

say() { printf '\n$ %s\n' "$*"; }
# Waits until FILE has at least COUNT lines matching PATTERN (a minute at most).
wait_for() {
  local file=$1 pattern=$2 count=${3:-1}
  for _ in $(seq 1 600); do
    if [ "$(grep -c -- "$pattern" "$file" 2>/dev/null || true)" -ge "$count" ]; then return 0; fi
    sleep 0.1
  done
  echo "rotation-demo: no \"$pattern\" in $file within a minute:" >&2
  cat "$file" >&2
  exit 1
}

rm -rf "$demo" && mkdir -p "$demo"
$coffer secret delete demo-db > /dev/null 2>&1 || true
say coffer secret create demo-db --from-file password=$demo/password.txt
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n' > $demo/password.txt)
$coffer secret create demo-db --from-file password=$demo/password.txt
rm $demo/password.txt

say coffer render --secret demo-db --stage pending --dir $demo/db --check-interval 1s '&'
$coffer render --secret demo-db --stage pending --dir $demo/db --check-interval 1s 2> $demo/render.log &
render=$!
wait_for $demo/render.log 'wrote 1 file in'
$node_ts scripts/demo/database.ts $demo > $demo/database.log 2>&1 &
database=$!
wait_for $demo/database.log 'listening'

say coffer exec --secret demo-db:DB_ -- node --import tsx scripts/demo/app.ts $demo '&'
$coffer exec --secret demo-db:DB_ -- $node_ts scripts/demo/app.ts $demo > $demo/app.log 2>&1 &
app=$!
wait_for $demo/app.log 'app: started'

say coffer secret rotate demo-db --generate password:32 --stage
$coffer secret rotate demo-db --generate password:32 --stage
wait_for $demo/database.log 'accepting a new password'
echo "the database accepts the staged password and the old one; the app still uses the old one"

say coffer secret promote demo-db
$coffer secret promote demo-db
wait_for $demo/app.log 'app: started' 2
echo "the app was restarted with the new password"
wait_for $demo/app.log 'app: stopped after'

kill -TERM $app && wait $app || true
refused=$(node -e "require('http').get({ socketPath: '$demo/db.sock', path: '/stats' }, (r) => { let t = ''; r.on('data', (c) => t += c); r.on('end', () => console.log(JSON.parse(t).refused)); })")
kill -TERM $render $database && wait $render $database || true
echo
grep '^app: stopped' $demo/app.log
totals=$(grep '^app: stopped' $demo/app.log | awk '{ sent += $4; failed += $6 } END { print sent, failed }')
read -r sent failed <<< "$totals"
echo "rotation-demo: the app sent $sent requests: $failed failed; the database refused $refused"
[ "$failed" -eq 0 ] && [ "$refused" -eq 0 ]
