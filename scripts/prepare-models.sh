#!/usr/bin/env bash
# prepare-models.sh: makes models/stories260K.gguf (F32) and its q8_0 / q4_0
# variants from the llama2.c checkpoint and its SentencePiece vocabulary.
# The inputs come from $NB_SHARED_MODELS (default ../shared/models) when that
# folder has them, otherwise they are downloaded from their public origin
# (karpathy/tinyllamas on Hugging Face) and checked against pinned sha256s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
nibble=${NIBBLE:-build/nibble}
shared=${NB_SHARED_MODELS:-$root/../shared/models}

SHA_CKPT=b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696
SHA_TOK=dfff07d929db979913f166ec94a6f5ecad4c70cfed8eb5c9cbe7e464455e46f5
URL=https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K

check_sha() { # file sha
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "prepare-models: $1: sha256 $got, expected $2" >&2
    return 1
  fi
}

if [ -f "$shared/stories260K.bin" ] && [ -f "$shared/tok512.model" ]; then
  ckpt="$shared/stories260K.bin"
  tok="$shared/tok512.model"
else
  mkdir -p models/download
  ckpt=models/download/stories260K.bin
  tok=models/download/tok512.model
  for f in stories260K.bin tok512.model; do
    if [ ! -f "models/download/$f" ]; then
      echo "prepare-models: downloading $f"
      curl -fL --retry 3 -o "models/download/$f.part" "$URL/$f"
      mv "models/download/$f.part" "models/download/$f"
    fi
  done
fi
check_sha "$ckpt" "$SHA_CKPT"
check_sha "$tok" "$SHA_TOK"

"$nibble" convert "$ckpt" --tokenizer "$tok" -o models/stories260K.gguf
"$nibble" quantize models/stories260K.gguf models/stories260K-q8_0.gguf q8_0 --quiet
"$nibble" quantize models/stories260K.gguf models/stories260K-q4_0.gguf q4_0 --quiet
echo "prepare-models: models/stories260K.gguf, -q8_0.gguf, -q4_0.gguf ready"
