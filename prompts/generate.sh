#!/usr/bin/env bash
# Generates the queue prompts: 8 kHz mono 16-bit WAVs, the telephone band.
# Needs espeak-ng and sox (Debian packages of the same names). Re-run after
# editing the texts below; the WAVs are committed so the switch needs neither.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
  echo "needs espeak-ng and sox" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
FMT=(-r 8000 -c 1 -b 16 -e signed-integer)

say() { # say NAME TEXT : speech, telephone band, trimmed, normalised to -3 dBFS
  espeak-ng -v en-us -s 150 -w "$tmp/$1.raw.wav" "$2"
  sox "$tmp/$1.raw.wav" "${FMT[@]}" "$1.wav" highpass 300 lowpass 3400 \
    silence 1 0.05 0.5% reverse silence 1 0.05 0.5% reverse norm -3
}

say welcome "Thank you for calling. Please hold, an agent will be with you shortly."
say caller_number "You are caller number"
say expected_wait "The expected wait is about"
say minute "minute"
say minutes "minutes"
say less_than_a_minute "less than a minute"
say goodbye "Thank you. Goodbye."
# Campaigns: an answered call with no agent in time (FTC TSR / Ofcom: who called, why, a number to call back).
say campaign_info "This is Switchyard, calling about your renewal. No agent is free now; we will call again. To reach us, dial 5 5 5, 0 3 0 0."
# Queued callback (a queue's `callback`): the offer, and what a caller who took it hears.
say callback_offer "To be called back instead of waiting, keeping your place in line, press 5."
say callback_confirmed "Thank you. We will call you back when an agent is free. Goodbye."
# Campaigns: the message left on an answering machine after its greeting ([[campaigns]] amd).
say campaign_machine "Hello, this is Switchyard, calling about your renewal. Please call us back at 5 5 5, 0 3 0 0. Thank you, goodbye."
# The demo IVR menu (dialplans/default.toml, DID 5550400).
say menu_main "For support, press 1. For sales, press 2. To speak to Ada, press 0."
n=0
for w in zero one two three four five six seven eight nine ten eleven twelve thirteen \
         fourteen fifteen sixteen seventeen eighteen nineteen twenty; do
  say "n$n" "$w"; n=$((n + 1))
done

# Ringback (ITU-T E.180 / ETSI: 425 Hz, 1 s on, 4 s off): one cadence, looped by the player.
sox -n "${FMT[@]}" "$tmp/ring_on.wav" synth 1 sine 425 vol 0.5
sox -n "${FMT[@]}" "$tmp/ring_off.wav" trim 0 4
sox "$tmp/ring_on.wav" "$tmp/ring_off.wav" ringback.wav

# Music on hold: a slow arpeggio of plucked notes, 8 s, looped by the player.
notes=(C4 E4 G4 C5 A3 C4 E4 A4 F3 A3 C4 F4 G3 B3 D4 G4)
parts=()
for i in "${!notes[@]}"; do
  sox -n "${FMT[@]}" "$tmp/m$i.wav" synth 0.5 pluck "${notes[$i]}" fade 0 0.5 0.3 vol 0.6
  parts+=("$tmp/m$i.wav")
done
sox "${parts[@]}" hold_music.wav norm -6

ls -l ./*.wav | awk '{s += $5} END {print NR " prompts, " s " bytes"}'
