#!/usr/bin/env bash
# The Debian packages the tests use: Chromium and a colour emoji font for the browser tests, curl
# for the README's service example. Never a downloaded browser. Installs only what is missing.
# Without root or sudo it says so and those tests skip (outside CI, where they fail instead).
set -euo pipefail
packages=(chromium fonts-noto-color-emoji curl)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} = 0 ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "install-browser: no root or sudo; install Debian's ${missing[*]} for the browser and README tests" >&2
fi
