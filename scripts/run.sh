#!/usr/bin/env bash
# The main job: set up, build, and run the reflector on its embedded default (an in-memory
# wire with a built-in traffic generator, 5 seconds). Extra arguments go to the reflector,
# e.g. `scripts/run.sh --backend afpacket --iface veth0`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release -q -p apps --bin reflector -- "$@"
