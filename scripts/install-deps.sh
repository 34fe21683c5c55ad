#!/usr/bin/env bash
# Installs the Debian 12 packages vlgraph needs, only those missing (run as root,
# or with sudo available). The CUDA toolkit is optional and never installed here:
# when /usr/local/cuda/bin/nvcc exists the CUDA backend is compiled too. clang and its
# runtime libraries are for the sanitizer build and the fuzzers (scripts/sanitize.sh, fuzz.sh); curl and
# python3 for the server tests (tests/server).
set -euo pipefail
packages=(build-essential cmake libeigen3-dev nlohmann-json3-dev libstb-dev libwebp-dev libjpeg62-turbo-dev libpcre2-dev libutf8proc-dev libboost-test-dev libcpp-httplib-dev pkg-config curl python3 clang libclang-rt-14-dev time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The openai Python client, for tests/server/openai_client.py (CTest skips it without): best effort, only
# where pip is, never fatal (offline, or Debian's externally managed Python refusing and no override).
if python3 -m pip --version >/dev/null 2>&1 && ! python3 -c 'import openai' >/dev/null 2>&1; then
  pip_args=(-q --disable-pip-version-check --timeout 15 --retries 1)
  python3 -m pip install "${pip_args[@]}" openai >/dev/null 2>&1 ||
    python3 -m pip install "${pip_args[@]}" --break-system-packages openai >/dev/null 2>&1 ||
    echo "note: pip install openai failed (offline?): tests/server/openai_client.py will be skipped"
fi
