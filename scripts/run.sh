#!/usr/bin/env bash
# The main job: set up, build, and run the static web server on its embedded default: the
# bundled site on a TAP device web0 it creates, answering at 10.77.0.2 (the kernel's side
# is 10.77.0.1/24), until Ctrl-C, which removes the device. Needs root. Extra arguments go
# to the server, e.g. `scripts/run.sh --root /srv/www --backend afpacket --iface veth0
# --addr 10.0.0.2/24`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release -q -p apps --bin web -- "$@"
