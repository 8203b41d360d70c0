#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests when it is missing and we may (root + apt).
# Never downloads a browser of its own; exits 0 either way, the tests say what is missing.
set -u
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || echo "could not install chromium: browser tests will skip (CI fails them)"
else
  echo "chromium is missing and cannot be installed here: browser tests will skip (CI fails them)"
fi
exit 0
