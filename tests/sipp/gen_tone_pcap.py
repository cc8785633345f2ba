#!/usr/bin/env python3
"""Writes tone-1khz-pcmu.pcap: 3 s of a 1000 Hz sine as G.711 u-law RTP
(PT 0, 20 ms frames, 150 packets), for SIPp's <exec play_pcap_audio>.

SIPp replaces the addresses and ports and keeps the RTP header and timing,
so only the payload and the 20 ms spacing matter. Run from anywhere:
    python3 tests/sipp/gen_tone_pcap.py
"""
import math
import os
import struct

RATE = 8000
FREQ = 1000.0
AMPLITUDE = 8000
FRAME = 160  # samples per 20 ms
PACKETS = 150
SSRC = 0x1000AB1E


def ulaw(sample):
    """ITU-T G.711 u-law encoder (the same table media::g711 decodes)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def packet(seq, ts, payload):
    rtp = struct.pack("!BBHII", 0x80, 0, seq, ts, SSRC) + payload
    udp = struct.pack("!HHHH", 4000, 4000, 8 + len(rtp), 0) + rtp
    ip_head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq, 0, 64, 17, 0,
        bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip_head = ip_head[:10] + struct.pack("!H", checksum(ip_head)) + ip_head[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip_head + udp


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tone-1khz-pcmu.pcap")
    with open(out, "wb") as f:
        # pcap global header: magic, v2.4, UTC, accuracy, snaplen, Ethernet.
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        n = 0
        for i in range(PACKETS):
            payload = bytes(
                ulaw(int(AMPLITUDE * math.sin(2 * math.pi * FREQ * (n + k) / RATE)))
                for k in range(FRAME))
            n += FRAME
            data = packet(i, i * FRAME, payload)
            usec = i * 20000
            f.write(struct.pack("<IIII", usec // 1000000, usec % 1000000, len(data), len(data)))
            f.write(data)


if __name__ == "__main__":
    main()
