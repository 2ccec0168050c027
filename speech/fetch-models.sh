#!/usr/bin/env bash
# Fetches the recommended Mandarin speech models for the Pi 4/5 from the
# sherpa-onnx GitHub releases into DEST (default models/), verifying each
# download against speech/models.sha256.
#
# The checksums could not be recorded on the (offline) machines this
# project is built on. An archive with no recorded checksum is accepted once
# and its SHA-256 is appended to speech/models.sha256 with a warning: commit
# that file so every later download is verified against it.
set -euo pipefail

dest=${1:-models}
here=$(cd "$(dirname "$0")" && pwd)
sums="$here/models.sha256"
base=https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models

# name|url|kind (file: single file; tar: .tar.bz2 archive)
models=(
  "silero_vad.onnx|$base/silero_vad.onnx|file"
  "sherpa-onnx-paraformer-zh-small-2024-03-09|$base/sherpa-onnx-paraformer-zh-small-2024-03-09.tar.bz2|tar"
  "sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17|$base/sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17.tar.bz2|tar"
  "sherpa-onnx-streaming-zipformer-zh-14M-2023-02-23|$base/sherpa-onnx-streaming-zipformer-zh-14M-2023-02-23.tar.bz2|tar"
)

command -v curl >/dev/null || { echo "models: curl is needed (apt-get install curl)" >&2; exit 1; }
mkdir -p "$dest"
touch "$sums"

for entry in "${models[@]}"; do
  IFS='|' read -r name url kind <<<"$entry"
  file=$(basename "$url")
  if [ -e "$dest/$name" ]; then
    echo "models: $name already present"
    continue
  fi
  echo "models: downloading $url"
  if ! curl -fL --retry 2 --connect-timeout 20 -o "$dest/$file.part" "$url"; then
    rm -f "$dest/$file.part"
    echo "模型下载失败 / model download FAILED: $url" >&2
    echo "This target needs the internet. Copy a models/ folder from a machine that has it instead (see speech/README.md)." >&2
    exit 1
  fi
  got=$(sha256sum "$dest/$file.part" | cut -d' ' -f1)
  want=$(awk -v f="$file" '$2 == f {print $1}' "$sums")
  if [ -z "$want" ]; then
    echo "models: WARNING no recorded checksum for $file; recording $got in $sums — commit it" >&2
    echo "$got  $file" >>"$sums"
  elif [ "$got" != "$want" ]; then
    rm -f "$dest/$file.part"
    echo "模型校验失败 / checksum MISMATCH for $file: got $got, want $want" >&2
    exit 1
  fi
  if [ "$kind" = tar ]; then
    tar -xjf "$dest/$file.part" -C "$dest"
    rm -f "$dest/$file.part"
  else
    mv "$dest/$file.part" "$dest/$name"
  fi
  echo "models: $name ok"
done
echo "models: done. Point the box at one recogniser directory, e.g. $dest/sherpa-onnx-paraformer-zh-small-2024-03-09"
