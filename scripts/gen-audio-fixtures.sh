#!/bin/sh
# Audio decoding fixtures for src/data/audio-decode.test.ts (run by hand; CI only reads them).
# Needs Debian's sox (with libsox-fmt-all), flac and opus-tools. One source clip: 0.1 s, 16 kHz,
# stereo, 440 Hz left / 660 Hz right at 0.5; every file below encodes it, and sox's own decoding
# of each WAV variant is kept as raw float32 (`*.sox.f32`, interleaved) to compare with.
set -eu
cd "$(dirname "$0")/../test/fixtures/audio"
sox -n -r 16000 -c 2 -b 32 -e floating-point src.wav synth 0.1 sine 440 sine 660 vol 0.5
for spec in "pcm8:-b 8 -e unsigned-integer" "pcm16:-b 16 -e signed-integer" "pcm24:-b 24 -e signed-integer" \
            "pcm32:-b 32 -e signed-integer" "float32:-b 32 -e floating-point" "ulaw:-b 8 -e mu-law" "alaw:-b 8 -e a-law"; do
  name=${spec%%:*}; opts=${spec#*:}
  # -D: no dither, so the file is the rounded source
  sox -D src.wav $opts "$name.wav"
  sox "$name.wav" -t f32 "$name.sox.f32"
done
# sox writes 24-bit stereo with a plain header; this one is WAVE_FORMAT_EXTENSIBLE (forced by 3 channels)
sox -D src.wav -b 24 -e signed-integer ext24-3ch.wav remix 1 2 1
sox ext24-3ch.wav -t f32 ext24-3ch.sox.f32
sox pcm16.wav pcm16.flac  # lossless: decodes to pcm16.sox.f32
sox -D -r 16000 src.wav -C 64 mono.mp3 remix 1
sox -D src.wav -C 3 stereo.ogg
sox -D src.wav -b 16 tmp16.wav && opusenc --quiet --bitrate 64 tmp16.wav stereo.opus && rm tmp16.wav
sox src.wav -t f32 src.f32 && rm src.wav
ls -l
