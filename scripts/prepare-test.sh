#!/usr/bin/env bash
# Makes sure the four runtimes of the test matrix can start, before `npm test` runs them:
# Chromium from Debian (installed here when missing and running as root), and the deno and
# workerd binaries that npm ci installs (their install scripts are approved in package.json
# "allowScripts"). Each check fails with a message that says what to do; nothing is skipped.
set -euo pipefail

cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium

fail() {
  echo "prepare-test: $*" >&2
  exit 1
}

if [[ ! -x $CHROMIUM ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "prepare-test: $CHROMIUM is missing; installing Debian's chromium package (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null || fail "apt-get update failed; cannot install chromium"
    apt-get install -y -q -o Dpkg::Use-Pty=0 chromium </dev/null || fail "apt-get install -y chromium failed"
  else
    fail "$CHROMIUM is missing and this is not root. Install it with: sudo apt-get update && sudo apt-get install -y chromium"
  fi
fi
[[ -x $CHROMIUM ]] || fail "$CHROMIUM is still missing after installing the chromium package"
echo "prepare-test: chromium: $("$CHROMIUM" --version 2>/dev/null || fail "$CHROMIUM does not start")"

[[ -d node_modules ]] || fail "node_modules is missing: run npm ci first"

deno_version=$(node_modules/.bin/deno --version 2>/dev/null | head -n 1) ||
  fail "deno does not start: run npm ci (package.json allowScripts must approve deno's install script; see npm install-scripts ls)"
echo "prepare-test: $deno_version"

workerd_version=$(node_modules/.bin/workerd --version 2>/dev/null) ||
  fail "workerd does not start: run npm ci (package.json allowScripts must approve workerd's install script; see npm install-scripts ls)"
echo "prepare-test: workerd $workerd_version"
