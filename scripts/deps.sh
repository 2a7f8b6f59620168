#!/usr/bin/env bash
# deps.sh - install the Debian packages the build and the tests need, only
# when they are missing. Safe to run repeatedly; needs root (or sudo) only
# when something has to be installed.
set -euo pipefail

pkgs=(build-essential pkg-config liburing-dev libcmocka-dev clang e2fsprogs util-linux
      fuse3 libfuse3-dev sqlite3 git fio)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "deps: need root to install ${missing[*]}" >&2; exit 1; }
		SUDO=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Users other than root mount through fusermount3, which opens /dev/fuse
# with their rights: udev's rule makes it 0666, a machine without udev (a
# container) may leave it 0600. Root sets what udev would have.
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
	echo "deps: /dev/fuse is mode $(stat -c %a /dev/fuse); making it 0666 as udev does"
	chmod 0666 /dev/fuse || echo "deps: cannot change /dev/fuse's mode (non-root mounts will not work)" >&2
fi
