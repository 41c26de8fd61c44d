#!/usr/bin/env bash
# Installs the pinned FlatBuffers compiler (Debian's flatbuffers-compiler 2.0.8) when it is missing.
# `npm run schemas` calls this; `npm ci && npm test` never needs flatc, because the generated code is
# committed and a test checks it against the SHA-256 of each .fbs.
set -euo pipefail
FLATC_VERSION="2.0.8"
DEBIAN_PACKAGE_VERSION="2.0.8+dfsg1-2"
if command -v flatc >/dev/null 2>&1 && flatc --version | grep -qx "flatc version ${FLATC_VERSION}"; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y "flatbuffers-compiler=${DEBIAN_PACKAGE_VERSION}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y "flatbuffers-compiler=${DEBIAN_PACKAGE_VERSION}"
fi
flatc --version | grep -qx "flatc version ${FLATC_VERSION}"
