#!/usr/bin/env bash
# bench.sh: the speed table of issue 4 in one command. Writes the synthetic
# benchmark models that are missing (build/tools/nb-synth, random weights,
# models/synth/, git-ignored) and runs `nibble bench` on them: TinyLlama-1.1B
# shape in Q4_0, Q8_0 and F16, and Llama-2-7B shape in Q4_0, both activation
# modes, with the read bandwidth probed in the same run.
#
#   scripts/bench.sh [-t THREADS] [-r REPS] [-p PROMPT] [-n GEN] [-o md|csv|json]
#                    [--quick] [--no-7b]
#
# --quick: -r 3 and pp128/tg32 (a few minutes); the default is llama-bench's
# pp512/tg128 with -r 5, which takes about an hour on a 2-core machine (the
# 7B prefill dominates). Needs build/ (scripts/setup.sh) and, for the 7B
# file, about 3.6 GB of disk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

threads=$(nproc)
reps=5
prompt=512
gen=128
fmt=md
want_7b=1
while [ $# -gt 0 ]; do
  case "$1" in
    -t) threads=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -p) prompt=$2; shift 2 ;;
    -n) gen=$2; shift 2 ;;
    -o) fmt=$2; shift 2 ;;
    --quick) reps=3; prompt=128; gen=32; shift ;;
    --no-7b) want_7b=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

for exe in build/nibble build/tools/nb-synth; do
  if [ ! -x "$exe" ]; then
    echo "bench.sh: $exe is missing; run scripts/setup.sh first" >&2
    exit 1
  fi
done

models=(tinyllama-1.1b:q4_0 tinyllama-1.1b:q8_0 tinyllama-1.1b:f16)
[ "$want_7b" = 1 ] && models+=(llama2-7b:q4_0)

args=()
for m in "${models[@]}"; do
  shape=${m%%:*} type=${m##*:}
  file=models/synth/$shape-$type.gguf
  if [ ! -f "$file" ]; then
    echo "bench.sh: writing $file" >&2
    build/tools/nb-synth "$shape" "$type" -t "$threads" -o "$file"
  fi
  args+=(-m "$file")
done

exec build/nibble bench "${args[@]}" -p "$prompt" -n "$gen" -t "$threads" \
  -r "$reps" --act f16,q8 -o "$fmt"
