#!/usr/bin/env bash
# The browser tests drive Debian's chromium. Install it when it is missing and we may (root with
# apt-get, as on CI and fresh servers); otherwise say exactly what to run.
set -eu
chromium="${GRANARY_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium for the browser tests (apt-get install chromium)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
  exit 0
fi
echo "The browser tests need chromium at $chromium: run 'sudo apt-get install chromium'" \
     "(or set GRANARY_CHROMIUM to a Chromium binary)." >&2
exit 1
