#!/usr/bin/env bash
# Regenerates the bundled example playlist from ffmpeg's own signal generators, so every byte of
# it is ours (see LICENSE). Deterministic: same ffmpeg, same files. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")"
ff() { ffmpeg -hide_banner -loglevel error -y -bitexact "$@"; }

# 01: click track, FLAC 48 kHz, 30 s. A 40 ms beep starting exactly on every second (880 Hz,
# 1760 Hz on every 10th second) so speakers out of sync are heard as flams.
ff -f lavfi -i "aevalsrc='if(lt(mod(t,1),0.04),0.6*sin(2*PI*if(lt(mod(t,10),1),1760,880)*t),0)|if(lt(mod(t,1),0.04),0.6*sin(2*PI*if(lt(mod(t,10),1),1760,880)*t),0)':s=48000:d=30" \
  -metadata artist="jaudiosync" -metadata title="Click Track" -c:a flac -sample_fmt s16 "01 - Click Track.flac"

# 02: arpeggio in fifths, MP3 44.1 kHz, 25 s. Each note has a sine envelope that is zero at its
# boundaries, so note changes do not click.
ff -f lavfi -i "aevalsrc='0.4*sin(PI*mod(t,0.25)/0.25)*sin(2*PI*220*pow(2,mod(floor(t*4)*7,12)/12)*t)|0.4*sin(PI*mod(t+0.125,0.25)/0.25)*sin(2*PI*330*pow(2,mod(floor(t*4)*5,12)/12)*t)':s=44100:d=25" \
  -metadata artist="jaudiosync" -metadata title="Arpeggio in Fifths" -c:a libmp3lame -b:a 96k "02 - Arpeggio in Fifths.mp3"

# 03: slow pad (A minor triad with a 0.2 Hz swell), Ogg Vorbis 32 kHz mono, 20 s.
ff -f lavfi -i "aevalsrc='0.25*(0.6+0.4*sin(2*PI*0.2*t))*(sin(2*PI*220*t)+sin(2*PI*261.63*t)+sin(2*PI*329.63*t))':s=32000:d=20" \
  -metadata artist="jaudiosync" -metadata title="Pad in A Minor" -c:a libvorbis -q:a 2 "03 - Pad in A Minor.ogg"

# 04: pulses panned left to right, Opus (48 kHz internally), 24 s: tells the channels apart.
ff -f lavfi -i "aevalsrc='if(lt(mod(t,2),1),0.5*sin(2*PI*440*t)*sin(PI*mod(t,0.5)/0.5),0)|if(lt(mod(t,2),1),0,0.5*sin(2*PI*554.37*t)*sin(PI*mod(t,0.5)/0.5))':s=48000:d=24" \
  -metadata artist="jaudiosync" -metadata title="Left Right" -c:a libopus -b:a 48k "04 - Left Right.opus"

cat > Playlist.m3u8 <<'M3U'
#EXTM3U
#EXTINF:30,jaudiosync - Click Track
01 - Click Track.flac
#EXTINF:25,jaudiosync - Arpeggio in Fifths
02 - Arpeggio in Fifths.mp3
#EXTINF:20,jaudiosync - Pad in A Minor
03 - Pad in A Minor.ogg
#EXTINF:24,jaudiosync - Left Right
04 - Left Right.opus
M3U
du -ch ./*.flac ./*.mp3 ./*.ogg ./*.opus | tail -1
