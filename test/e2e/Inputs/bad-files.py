"""bad-files.py SHARD OUTDIR: writes broken token shards made from SHARD (an llm.c uint16 shard)
into OUTDIR: truncated.bin (its first 5000 bytes), magic.bin (magic 12345), short.bin (100
tokens), vocab.bin (1000 tokens, token 300 at index 300)."""
import os
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
data = open(src, "rb").read()
open(os.path.join(out, "truncated.bin"), "wb").write(data[:5000])
open(os.path.join(out, "magic.bin"), "wb").write(struct.pack("<i", 12345) + data[4:])


def shard(tokens):
    return struct.pack("<256i", 20240520, 1, len(tokens), *([0] * 253)) + \
        struct.pack("<%dH" % len(tokens), *tokens)


open(os.path.join(out, "short.bin"), "wb").write(shard([65] * 100))
tokens = [65] * 1000
tokens[300] = 300
open(os.path.join(out, "vocab.bin"), "wb").write(shard(tokens))
