#!/usr/bin/env bash
# Debian's Chromium (and a colour emoji font) for the browser tests; never a downloaded browser.
# Does nothing when chromium is already there. Without root or sudo it says so and the browser
# tests skip (outside CI, where they fail instead).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
packages=(chromium fonts-noto-color-emoji)
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
else
    echo "install-browser: no root or sudo; install Debian's chromium for the browser tests" >&2
fi
