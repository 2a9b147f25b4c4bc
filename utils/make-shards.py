#!/usr/bin/env python3
"""Turns a UTF-8 text file into byte-level token shards in llm.c's format.

Every byte is one token (vocabulary 256). A shard is a header of 256 little-endian int32
(magic 20240520, version 1, token count, zeros) and then the tokens as uint16. The last
--val-fraction of the text becomes val_000.bin, ...; the rest train_000.bin, ...

    python3 utils/make-shards.py data/demo/corpus.txt --out-dir data/demo
    ./model-train --data 'data/demo/train_*.bin' --val 'data/demo/val_*.bin' --steps 1000

Uses only the Python standard library.
"""
import argparse
import array
import os
import re
import sys

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256


def write_shard(path, tokens):
    header = array.array("i", [0] * HEADER_INTS)
    header[0], header[1], header[2] = MAGIC, VERSION, len(tokens)
    body = array.array("H", list(tokens))
    if sys.byteorder != "little":
        header.byteswap()
        body.byteswap()
    with open(path, "wb") as f:
        header.tofile(f)
        body.tofile(f)


def write_split(data, prefix, out_dir, shard_tokens):
    paths = []
    for index, start in enumerate(range(0, len(data), shard_tokens)):
        path = os.path.join(out_dir, "%s_%03d.bin" % (prefix, index))
        write_shard(path, data[start:start + shard_tokens])
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="a UTF-8 text file")
    parser.add_argument("--out-dir", default=None,
                        help="where to write the shards (default: the input's directory)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="the fraction of the text, taken from its end, for validation "
                             "(default 0.1)")
    parser.add_argument("--shard-tokens", type=int, default=10_000_000,
                        help="tokens per shard at most (default 10,000,000)")
    args = parser.parse_args()

    if not 0.0 <= args.val_fraction < 1.0:
        parser.error("--val-fraction: expected a number in [0, 1), found %s" % args.val_fraction)
    if args.shard_tokens <= 0 or args.shard_tokens > 2**31 - 1:
        parser.error("--shard-tokens: expected a positive integer below 2^31, found %d"
                     % args.shard_tokens)
    try:
        with open(args.input, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.exit("error: %s: cannot read: %s" % (args.input, e.strerror))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit("error: %s: not UTF-8 text (byte %d: %s)" % (args.input, e.start, e.reason))
    if not data:
        sys.exit("error: %s: the file is empty" % args.input)

    n_val = int(len(data) * args.val_fraction)
    train, val = data[:len(data) - n_val], data[len(data) - n_val:]
    if args.val_fraction > 0 and not val:
        sys.exit("error: %s: %d bytes leave nothing for validation at --val-fraction %s"
                 % (args.input, len(data), args.val_fraction))
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.input))
    os.makedirs(out_dir, exist_ok=True)
    paths = write_split(train, "train", out_dir, args.shard_tokens)
    if val:
        paths += write_split(val, "val", out_dir, args.shard_tokens)
    # Shards of an earlier, longer run would be picked up by --data 'train_*.bin': say so.
    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name)
        if re.fullmatch(r"(train|val)_[0-9]{3,}\.bin", name) and path not in paths:
            print("warning: %s is left from an earlier run; remove it, or --data/--val globs will "
                  "read it" % path, file=sys.stderr)
    print("%s: %d tokens (vocabulary 256): %d train, %d val -> %s"
          % (args.input, len(data), len(train), len(val), ", ".join(paths)))


if __name__ == "__main__":
    main()
