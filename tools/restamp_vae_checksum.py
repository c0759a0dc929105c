#!/usr/bin/env python3
"""restamp_vae_checksum.py OLD NEW MODEL.safetensors... - points latent models at
another VAE with the same latents: every model's config names its VAE by a 64-bit
checksum ("vae_checksum", 16 hex digits); this rewrites OLD to NEW in place, in the
safetensors header only (same length, so the tensors do not move).

For a decoder fine-tune (`prophy vae train --init A --decoder-only -o B`), whose
latents are A's by construction: OLD is what the models hold now (`prophy inspect
MODEL | grep vae_checksum`), NEW is B's latent checksum (the last line of the
fine-tune prints it). prophy accepts a model whose checksum is the VAE's latent
checksum or, for files written before 2026-12-02, the hash of all its weights; it
cannot check a restamp, so restamp only models whose VAE kept its encoder.
Standard library only."""
import json
import os
import re
import struct
import sys


def restamp(path, old, new):
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            sys.exit(f"{path}: not a safetensors file (shorter than 8 bytes)")
        n = struct.unpack("<Q", head)[0]
        if n > os.fstat(f.fileno()).st_size - 8:
            sys.exit(f"{path}: not a safetensors file (its header length {n} is past the end)")
        header = f.read(n)
        if len(header) != n:
            sys.exit(f"{path}: the header is truncated")
    try:
        meta = json.loads(header).get("__metadata__", {})
        config = json.loads(meta["prophy.config"])
        have = config["latent"]["vae_checksum"]
    except (ValueError, KeyError, TypeError):
        sys.exit(f"{path}: not a latent prophy model (no prophy.config latent.vae_checksum)")
    if have == new:
        print(f"{path}: already {new}")
        return
    if have != old:
        sys.exit(f"{path}: its vae_checksum is {have}, not {old}")
    key = b'\\"vae_checksum\\":\\"' + old.encode() + b'\\"'
    if header.count(key) != 1:
        sys.exit(f"{path}: vae_checksum {old} is not exactly once in the header")
    fixed = header.replace(key, b'\\"vae_checksum\\":\\"' + new.encode() + b'\\"')
    tmp = path + ".restamp.tmp"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        src.seek(8 + n)
        dst.write(head + fixed)
        while True:
            block = src.read(1 << 20)
            if not block:
                break
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)
    print(f"{path}: {old} -> {new}")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.split("\n\n")[0])
    old, new = sys.argv[1].lower(), sys.argv[2].lower()
    for h in (old, new):
        if not re.fullmatch(r"[0-9a-f]{16}", h):
            sys.exit(f"'{h}' is not a checksum (16 hex digits)")
    for path in sys.argv[3:]:
        restamp(path, old, new)


if __name__ == "__main__":
    main()
