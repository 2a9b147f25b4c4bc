#!/usr/bin/env python3
"""Replays an Ingot GPT-2 training run in PyTorch and compares the per-step losses.

The issue's check: GPT-2 124M trained for 50 steps from the same initial weights and batches as
the PyTorch benchmark trainer (torch_gpt2.py: fp32 master weights, bf16 autocast compute)
gives losses within 1e-2 relative at every step. This script takes a checkpoint of the run
(usually step 0, from --save-initial), its JSONL log and its --data glob, loads the weights into
torch_gpt2.GPT, reads the same batches in the same order as Ingot's loader (its --shuffle order
too, from the checkpoint), trains with torch.optim.AdamW, the global-norm clip and the learning
rate of Ingot's schedule, and prints a table of both losses and gradient norms:

  ./gpt2-124m --data 'data/train_*.bin' --steps 50 --ckpt-dir ckpt --save-initial --log ingot.jsonl
  python3 utils/bench/compare_torch.py --trainer ./gpt2-124m --init ckpt/step_00000000 \
      --data 'data/train_*.bin' --log ingot.jsonl --device cuda

From a later checkpoint (--init ckpt/step_00000009, written with --ckpt-every) it also loads
AdamW's moments and step count and the data position, so a step can be replayed alone from
Ingot's own state (--steps 10): that separates one step's error from the slow drift apart of
two trajectories (a loss spike amplifies it).

What the trainer was run with comes from two places: B, T, micro-batches and the default
hyperparameters from `TRAINER --describe` (or --describe FILE, that output saved); any
hyperparameter flag the run overrode (--lr, --warmup, ...) must be given here too, with the same
value. The learning rate of every step is checked against the log's, so a forgotten --lr,
--warmup, --lr-schedule or --lr-final stops the comparison (exit 2) instead of failing it.

The optimizer (Ingot's definition; torch.optim.AdamW computes the same):
  norm = sqrt(sum of every gradient element squared); g *= clip / norm when clip > 0 and
  norm > clip (written out here: clip_grad_norm_ sums in f32 and divides by norm + 1e-6)
  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
  p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p), wd only for rank >= 2
  lr(t): lr * t / warmup for t <= warmup; then constant, or a cosine / linear decay from lr to
  lr * lr_final over the steps after warmup (progress (t - warmup) / (steps - warmup)).

--dtype bf16 (the default where --describe says the trainer computes in bf16, Ingot's cuda
target): fp32 parameters, torch.autocast to bf16, so matmuls and attention run in bf16 with fp32
accumulation and layer norms, softmax and the loss in fp32. --dtype f32: everything fp32 (TF32
off), for the host target; --device cpu --dtype f32 against a host trainer should agree to about
1e-5 (test/e2e/compare-torch.test).

Exit status: 0 every compared step within --tol, 1 some step is not, 2 bad input.
"""
import argparse
import glob
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import torch_gpt2  # noqa: E402

PROG = "compare_torch"


class InputError(Exception):
    """Bad input: a file, flag or log that does not fit the run (exit 2)."""


# ---------------------------------------------------------------------------------------------
# The checkpoint: manifest.bin (a flatbuffer of runtime/schema/checkpoint.fbs) + tensors.bin.
# A reader of just the fields used here, so that neither flatc nor the flatbuffers package is
# needed. Field numbers are the schema's declaration order; the schema only appends fields.

DTYPES = {0: ("f32", 4), 1: ("bf16", 2), 2: ("i32", 4), 3: ("f64", 8)}
MANIFEST_VERSIONS = (1, 2)


class FlatTable:
    """One flatbuffers table: scalars, structs and offsets by field number."""

    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def _field(self, index):
        slot = 4 + 2 * index
        if slot >= self.vtable_size:
            return 0
        return struct.unpack_from("<H", self.buf, self.vtable + slot)[0]

    def scalar(self, index, fmt, default=0):
        off = self._field(index)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0] if off else default

    def struct_(self, index, fmt):
        off = self._field(index)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off) if off else None

    def _target(self, index):
        off = self._field(index)
        if not off:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def string(self, index):
        at = self._target(index)
        if at is None:
            return None
        n = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4:at + 4 + n].decode("utf-8")

    def table(self, index):
        at = self._target(index)
        return None if at is None else FlatTable(self.buf, at)

    def vector(self, index, fmt):
        at = self._target(index)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        return list(struct.unpack_from("<%d%s" % (n, fmt), self.buf, at + 4))

    def tables(self, index):
        at = self._target(index)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        out = []
        for i in range(n):
            elem = at + 4 + 4 * i
            out.append(FlatTable(self.buf, elem + struct.unpack_from("<I", self.buf, elem)[0]))
        return out


def read_checkpoint(path):
    """Returns ({name: f32 tensor}, [parameter names in order], {manifest fields})."""
    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "manifest.bin")) and \
            os.path.exists(os.path.join(path, "step_00000000", "manifest.bin")):
        path = os.path.join(path, "step_00000000")  # the --ckpt-dir of a --save-initial run
    try:
        with open(os.path.join(path, "manifest.bin"), "rb") as f:
            buf = f.read()
        with open(os.path.join(path, "tensors.bin"), "rb") as f:
            blob = f.read()
    except OSError as e:
        raise InputError("--init %s: not a checkpoint directory (%s)" % (path, e))
    try:
        if len(buf) < 8 or buf[4:8] != b"INGC":
            raise InputError("--init %s: manifest.bin is not an Ingot checkpoint manifest "
                             "(expected the identifier INGC)" % path)
        m = FlatTable(buf, struct.unpack_from("<I", buf, 0)[0])
        version = m.scalar(0, "I")
        if version not in MANIFEST_VERSIONS:
            raise InputError("--init %s: checkpoint format version %d; this reader knows %s "
                             "(runtime/schema/checkpoint.fbs)" % (path, version, MANIFEST_VERSIONS))
        info = {"path": path, "model": m.string(1), "target": m.string(3),
                "compute_dtype": DTYPES.get(m.scalar(4, "B"), ("?", 0))[0], "step": m.scalar(5, "q")}
        info["shard"], info["offset"], info["epoch"] = m.struct_(6, "qqq") or (0, 0, 0)
        layout = m.struct_(8, "ii") or (1, 1)
        info["stages"], info["data_parallel"] = layout
        order = m.table(11)
        info["shuffle"] = bool(order.scalar(0, "B")) if order else False
        info["seed"] = order.scalar(1, "Q") if order else 0
        info["shard_tokens"] = order.vector(2, "q") if order else []
        if m.scalar(10, "Q") != len(blob):
            raise InputError("--init %s: tensors.bin has %d bytes, the manifest says %d" %
                             (path, len(blob), m.scalar(10, "Q")))
        tensors, order_names = {}, []
        for t in m.tables(9):
            name, dtype = t.string(0), t.scalar(1, "B")
            shape = t.vector(2, "q")
            offset, nbytes = t.scalar(3, "Q"), t.scalar(4, "Q")
            kind, width = DTYPES.get(dtype, (None, 0))
            count = int(np.prod(shape)) if shape else 1
            if kind not in ("f32", "bf16") or nbytes != width * count or \
                    offset + nbytes > len(blob):
                raise InputError("--init %s: tensor %s (dtype %d, shape %s, %d bytes at %d) is "
                                 "not a float tensor inside tensors.bin" %
                                 (path, name, dtype, shape, nbytes, offset))
            raw = bytearray(blob[offset:offset + nbytes])
            tdtype = torch.float32 if kind == "f32" else torch.bfloat16
            tensors[name] = torch.frombuffer(raw, dtype=tdtype).reshape(shape).float()
            order_names.append(name)
    except (struct.error, UnicodeDecodeError) as e:
        raise InputError("--init %s: manifest.bin is damaged (%s)" % (path, e))
    params = [n for n in order_names if not (n.endswith(".m") or n.endswith(".v"))]
    return tensors, params, info


# ---------------------------------------------------------------------------------------------
# Data: Ingot's loader (runtime/src/DataLoader.cpp) over llm.c token shards.

SHARD_FORMATS = {20240520: (1, np.uint16), 20240801: (7, np.uint32)}


def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 1024:
        raise InputError("%s: too short for the 1024-byte shard header" % path)
    magic, version, count = struct.unpack_from("<3i", data, 0)
    if magic not in SHARD_FORMATS or SHARD_FORMATS[magic][0] != version:
        raise InputError("%s: not a token shard (magic %d, version %d)" % (path, magic, version))
    tokens = np.frombuffer(data, dtype=SHARD_FORMATS[magic][1], offset=1024)
    if len(tokens) != count:
        raise InputError("%s: the header says %d tokens, the file has %d" %
                         (path, count, len(tokens)))
    return tokens


MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
DATA_DOMAIN = 0x646174616F726472  # "dataordr"


def mix64(x):
    """splitmix64's output function, as DataLoader.cpp."""
    x = (x + GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def permutation(n, seed, epoch, file):
    """DataLoader.cpp's Fisher-Yates over 0..n-1 from the (seed, epoch, file) stream."""
    state = mix64(mix64(mix64(seed ^ DATA_DOMAIN) ^ (epoch & MASK64)) ^ ((file + 1) & MASK64))
    out = list(range(n))
    for i in range(n - 1, 0, -1):
        bound = i + 1
        reject = ((1 << 64) - bound) % bound
        while True:
            state = (state + GOLDEN) & MASK64
            r = mix64(state)
            if r >= reject:
                break
        j = r % bound
        out[i], out[j] = out[j], out[i]
    return out


class IngotLoader:
    """Batches of B sequences of T + 1 tokens (inputs, then the targets shifted by one).
    Unshuffled: B*T+1 consecutive tokens from the position, then B*T further. Shuffled: every
    epoch permutes the shards, and each shard's rows of T tokens (row r reads tokens
    r*T .. r*T+T); batch k of a shard takes rows order[k*B .. k*B+B-1]. A shard holds
    floor((N - 1) / T / B) batches; after its last, the next shard, and after the last shard
    the next epoch."""

    def __init__(self, pattern, B, T, vocab, info):
        files = sorted(glob.glob(pattern))
        if not files:
            raise InputError("--data '%s': no file matches" % pattern)
        self.shards = [read_shard(p) for p in files]
        self.files = files
        for path, tokens in zip(files, self.shards):
            if len(tokens) < B * T + 1:
                raise InputError("%s: %d tokens, one batch needs B*T+1 = %d" %
                                 (path, len(tokens), B * T + 1))
            top = int(tokens.max())
            if top >= vocab:
                raise InputError("%s: token %d is outside the vocabulary of %d" %
                                 (path, top, vocab))
        saved = info["shard_tokens"]
        if saved and saved != [len(s) for s in self.shards]:
            raise InputError("--data '%s': the shards have %s tokens, the checkpoint's run read "
                             "%s (other data files?)" % (pattern, [len(s) for s in self.shards],
                                                         saved))
        self.B, self.T = B, T
        self.shuffle, self.seed = info["shuffle"], info["seed"]
        self.slot, self.offset, self.epoch = info["shard"], info["offset"], info["epoch"]
        self._orders = {}

    def batches_in(self, file):
        return (len(self.shards[file]) - 1) // self.T // self.B

    def _shard_order(self):
        key = ("shards", self.epoch)
        if key not in self._orders:
            n = len(self.shards)
            self._orders = {key: permutation(n, self.seed, self.epoch, -1) if self.shuffle
                            else list(range(n))}
        return self._orders[key]

    def _row_order(self, file):
        key = ("rows", self.epoch, file)
        if key not in self._orders:
            self._orders[key] = permutation((len(self.shards[file]) - 1) // self.T, self.seed,
                                            self.epoch, file)
        return self._orders[key]

    def next(self):
        B, T = self.B, self.T
        file = self._shard_order()[self.slot]
        tokens = self.shards[file]
        k = self.offset // (B * T)
        if k >= self.batches_in(file) or self.offset % (B * T):
            raise InputError("the data position (shard %d, token %d) does not fit --data" %
                             (self.slot, self.offset))
        if not self.shuffle:
            buf = tokens[self.offset:self.offset + B * T + 1].astype(np.int64)
            x, y = buf[:-1].reshape(B, T), buf[1:].reshape(B, T)
        else:
            rows = self._row_order(file)[k * B:(k + 1) * B]
            seqs = np.stack([tokens[r * T:r * T + T + 1] for r in rows]).astype(np.int64)
            x, y = seqs[:, :-1], seqs[:, 1:]
        self.offset += B * T
        if k + 1 >= self.batches_in(file):
            self.offset = 0
            self.slot += 1
            if self.slot == len(self.shards):
                self.slot = 0
                self.epoch += 1
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


# ---------------------------------------------------------------------------------------------
# The model: the benchmark trainer's GPT (torch_gpt2.py) with Ingot's weights.

def causal_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """F.scaled_dot_product_attention written out, for torch < 2.0 (causal, no dropout)."""
    if attn_mask is not None or dropout_p != 0.0 or not is_causal:
        raise NotImplementedError("only causal attention without dropout is written out")
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (scale or 1.0 / math.sqrt(q.shape[-1]))
    future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=q.device), diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v


if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = causal_attention

# Ingot name (layer.<i>.<name>) -> torch_gpt2 name, and whether the weight is transposed
# (Ingot multiplies x @ W with W [in, out]; nn.Linear stores [out, in]).
LAYER_NAMES = {
    "ln1_g": ("ln1.weight", False), "ln1_b": ("ln1.bias", False),
    "qkv_w": ("qkv.weight", True), "qkv_b": ("qkv.bias", False),
    "proj_w": ("proj.weight", True), "proj_b": ("proj.bias", False),
    "ln2_g": ("ln2.weight", False), "ln2_b": ("ln2.bias", False),
    "fc_w": ("fc.weight", True), "fc_b": ("fc.bias", False),
    "fc_proj_w": ("fc_proj.weight", True), "fc_proj_b": ("fc_proj.bias", False),
}
TOP_NAMES = {"wte": "wte.weight", "wpe": "wpe.weight", "lnf_g": "lnf.weight",
             "lnf_b": "lnf.bias"}


def torch_name(ingot_name):
    if ingot_name in TOP_NAMES:
        return TOP_NAMES[ingot_name], False
    parts = ingot_name.split(".")
    if len(parts) == 3 and parts[0] == "layer" and parts[1].isdigit() and parts[2] in LAYER_NAMES:
        name, transpose = LAYER_NAMES[parts[2]]
        return "blocks.%s.%s" % (parts[1], name), transpose
    raise InputError("checkpoint tensor '%s' is not a GPT-2 parameter of gpt2.ingot" % ingot_name)


def model_shape(tensors):
    """Layers, width, vocabulary and context, from the checkpoint's tensor shapes."""
    for name in ("wte", "wpe", "layer.0.qkv_w"):
        if name not in tensors:
            raise InputError("the checkpoint has no tensor '%s': not gpt2.ingot's GPT-2" % name)
    layers = 0
    while "layer.%d.qkv_w" % layers in tensors:
        layers += 1
    vocab, dim = tensors["wte"].shape
    return layers, dim, vocab, tensors["wpe"].shape[0]


def build_model(tensors, params, heads):
    layers, dim, vocab, context = model_shape(tensors)
    if dim % heads:
        raise InputError("--heads %d does not divide the width %d" % (heads, dim))
    model = torch_gpt2.GPT(layers, dim, heads, vocab=vocab, context=context)
    state = model.state_dict()
    loaded = {}
    for n in params:
        tn, transpose = torch_name(n)
        value = tensors[n].t() if transpose else tensors[n]
        if tn not in state or tuple(state[tn].shape) != tuple(value.shape):
            raise InputError("checkpoint tensor '%s' %s does not fit %s %s" %
                             (n, list(tensors[n].shape), tn,
                              list(state[tn].shape) if tn in state else "(absent)"))
        loaded[tn] = value.contiguous()
    missing = sorted(set(state) - set(loaded))
    if missing:
        raise InputError("the checkpoint has no value for %s" % ", ".join(missing))
    model.load_state_dict(loaded)
    return model


# ---------------------------------------------------------------------------------------------
# Hyperparameters, the schedule and the log.

HYPER = [  # (flag, describe's train key, type)
    ("lr", "lr", float), ("lr_schedule", "lr_schedule", str), ("warmup", "warmup", int),
    ("lr_final", "lr_final", float), ("beta1", "beta1", float), ("beta2", "beta2", float),
    ("eps", "eps", float), ("weight_decay", "weight_decay", float), ("clip", "clip", float),
]


def learning_rate(h, step, steps):
    """runtime/src/Trainer.cpp's learningRate."""
    if h["warmup"] > 0 and step <= h["warmup"]:
        return h["lr"] * step / h["warmup"]
    if h["lr_schedule"] == "constant" or steps <= h["warmup"]:
        return h["lr"]
    progress = min(1.0, max(0.0, (step - h["warmup"]) / (steps - h["warmup"])))
    lr_min = h["lr"] * h["lr_final"]
    if h["lr_schedule"] == "cosine":
        return lr_min + (h["lr"] - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return h["lr"] - (h["lr"] - lr_min) * progress


def read_describe(a):
    if a.describe:
        try:
            with open(a.describe) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise InputError("--describe %s: %s" % (a.describe, e))
    if not a.trainer:
        return None
    try:
        out = subprocess.run([a.trainer, "--describe"], check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True).stdout
        return json.loads(out)
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        raise InputError("--trainer %s: cannot read its --describe manifest (%s)" % (a.trainer, e))


def read_log(path):
    records = {}
    try:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    raise InputError("--log %s:%d: not JSON" % (path, lineno))
                if "step" in rec and "loss" in rec:
                    records[int(rec["step"])] = rec  # a resumed run appends: the last wins
    except OSError as e:
        raise InputError("--log %s: %s" % (path, e))
    return records


# ---------------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="compare_torch.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--init", required=True,
                    help="a checkpoint of the run: CKPT_DIR/step_NNNNNNNN (step 0 from "
                         "--save-initial, or later), or CKPT_DIR for its step 0")
    ap.add_argument("--data", required=True, help="the trainer's --data glob")
    ap.add_argument("--log", required=True, help="the trainer's --log JSONL")
    ap.add_argument("--trainer", help="the trainer executable (for its --describe manifest)")
    ap.add_argument("--describe", help="a file holding the trainer's --describe output")
    ap.add_argument("--steps", type=int, default=None,
                    help="compare up to step N (default: the last logged step)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cuda or cpu (default: cuda where torch sees a GPU)")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default=None,
                    help="torch's compute dtype (default: the trainer's, from --describe: bf16 "
                         "for the cuda target)")
    ap.add_argument("--heads", type=int, default=None,
                    help="attention heads (default: the GPT-2 size of that depth and width)")
    ap.add_argument("--tol", type=float, default=1e-2, help="largest relative loss difference")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch")
    g = ap.add_argument_group("the run's values, where not the trainer's defaults")
    g.add_argument("--batch", type=int, help="B (default: --describe's micro_batch)")
    g.add_argument("--seq", type=int, help="T (default: --describe's seq_len)")
    g.add_argument("--microbatches", type=int,
                   help="micro-batches per step (default: --describe's parallel.microbatches)")
    g.add_argument("--lr", type=float)
    g.add_argument("--lr-schedule", choices=["constant", "cosine", "linear"])
    g.add_argument("--warmup", type=int)
    g.add_argument("--lr-final", type=float)
    g.add_argument("--beta1", type=float)
    g.add_argument("--beta2", type=float)
    g.add_argument("--eps", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--clip", type=float)
    return ap.parse_args(argv)


def resolve(a, desc, info, tensors):
    """The run's B, T, micro-batches and hyperparameters: flags, else --describe."""
    train = (desc or {}).get("train", {})
    parallel = (desc or {}).get("parallel", {})
    missing = []

    def pick(flag, value, source):
        if value is not None:
            return value
        if source is None:
            missing.append("--" + flag.replace("_", "-"))
        return source

    h = {flag: pick(flag, getattr(a, flag), None if key not in train else typ(train[key]))
         for flag, key, typ in HYPER}
    B = pick("batch", a.batch, train.get("micro_batch"))
    T = pick("seq", a.seq, train.get("seq_len"))
    micro = a.microbatches or parallel.get("microbatches", 1)
    replicas = parallel.get("data", 1)
    if missing:
        raise InputError("no value for %s: give --trainer (or --describe) or the flags" %
                         ", ".join(missing))
    if desc:
        for key, mine in (("model", info["model"]), ("target", info["target"])):
            if desc.get(key) != mine:
                raise InputError("the trainer is %s '%s', the checkpoint's is '%s'" %
                                 (key, desc.get(key), mine))
    if desc and desc.get("train", {}).get("optimizer", "adamw") != "adamw":
        raise InputError("the trainer's optimizer is %s; this comparison is AdamW's" %
                         desc["train"]["optimizer"])
    context = model_shape(tensors)[3]
    if T > context:
        raise InputError("T %d exceeds the context %d" % (T, context))
    return h, B, T, micro * replicas


def load_moments(opt, model, tensors, params, step, on_device):
    """A later checkpoint (--init CKPT_DIR/step_N): AdamW's moments and step count, so that the
    replay continues the run, and one step can be compared alone."""
    by_name = dict(model.named_parameters())
    for n in params:
        tn, transpose = torch_name(n)
        p = by_name[tn]
        if n + ".m" not in tensors or n + ".v" not in tensors:
            raise InputError("the checkpoint of step %d has no AdamW moments for %s" % (step, n))
        m, v = tensors[n + ".m"], tensors[n + ".v"]
        if transpose:
            m, v = m.t(), v.t()
        opt.state[p] = {
            "step": torch.tensor(float(step), dtype=torch.float32,
                                 device=p.device if on_device else "cpu"),
            "exp_avg": m.contiguous().to(p.device), "exp_avg_sq": v.contiguous().to(p.device)}


@torch.no_grad()
def clip_gradients(model, clip):
    """Ingot's global-norm clip: the norm summed in f64 (clip_grad_norm_ sums in the gradients'
    f32, off by ~1e-5 relative at 124M), scale clip / norm where norm > clip > 0."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = math.sqrt(float(torch.stack([(g.double() ** 2).sum() for g in grads]).sum()))
    if clip > 0 and norm > clip:
        for g in grads:
            g.mul_(clip / norm)
    return norm


def run(a):
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    tensors, params, info = read_checkpoint(a.init)
    desc = read_describe(a)
    h, B, T, per_step = resolve(a, desc, info, tensors)
    # --describe's compute_dtype is the trainer's (bf16 where ingot-assign-storage narrowed
    # activations); the checkpoint's names the dtype of its master weights.
    trainer_dtype = (desc or {}).get("compute_dtype", info["compute_dtype"])
    dtype = a.dtype or ("bf16" if trainer_dtype == "bf16" else "f32")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no GPU")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    layers, dim, vocab, context = model_shape(tensors)
    heads = a.heads or next((hh for L, d, hh in common.SIZES.values() if (L, d) == (layers, dim)),
                            None)
    if heads is None:
        raise InputError("--heads: required for %d layers of width %d (no GPT-2 size in "
                         "common.SIZES has them)" % (layers, dim))
    model = build_model(tensors, params, heads)
    model = model.to(device)
    loader = IngotLoader(a.data, B, T, vocab, info)

    log = read_log(a.log)
    first = info["step"] + 1
    last = a.steps if a.steps is not None else max(log) if log else 0
    if last < first:
        raise InputError("--log %s: no step after the checkpoint's step %d" % (a.log, info["step"]))
    absent = [t for t in range(first, last + 1) if t not in log]
    if absent:
        raise InputError("--log %s: step %d is not logged (steps %d..%d are compared)" %
                         (a.log, absent[0], first, last))
    total_steps = int(log[first].get("steps", last))

    print("model %s (%s target, checkpoint %s): %d layers, width %d, %d heads, vocab %d, "
          "context %d; B %d x T %d x %d batch(es) per step" %
          (info["model"], info["target"], info["path"], layers, dim, heads, vocab, context, B, T,
           per_step))
    print("data %s: %d shard(s), %s from shard %d token %d epoch %d" %
          (a.data, len(loader.shards),
           "shuffled with seed %d" % info["seed"] if info["shuffle"] else "in file order",
           info["shard"], info["offset"], info["epoch"]))
    print("adamw lr %g (%s, warmup %d, final %g, over %d steps), betas %g %g, eps %g, "
          "weight decay %g, clip %g" % (h["lr"], h["lr_schedule"], h["warmup"], h["lr_final"],
                                        total_steps, h["beta1"], h["beta2"], h["eps"],
                                        h["weight_decay"], h["clip"]))
    card = " (%s)" % torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    print("ingot computes in %s; torch %s on %s%s: %s" %
          (trainer_dtype, torch.__version__, device, card,
           "bf16 autocast over fp32 weights" if dtype == "bf16" else "f32, TF32 off"))

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    fused = device.type == "cuda" and int(torch.__version__.split(".")[0]) >= 2
    kwargs = {"fused": True} if fused else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": h["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], **kwargs)
    if info["step"] > 0:
        load_moments(opt, model, tensors, params, info["step"], on_device=fused)

    print("%5s %13s %13s %10s %11s %11s" % ("step", "ingot loss", "torch loss", "rel diff",
                                            "ingot norm", "torch norm"))
    worst, worst_step, over = 0.0, first, []
    for t in range(first, last + 1):
        rec = log[t]
        if rec.get("skipped"):
            raise InputError("--log: step %d skipped its update (non-finite values); the "
                             "comparison covers only runs without skips" % t)
        lr = learning_rate(h, t, total_steps)
        if "lr" in rec and abs(float(rec["lr"]) - lr) > 1e-6 * max(abs(lr), 1e-12):
            raise InputError("step %d: the log's lr is %.9g, this schedule gives %.9g: give the "
                             "run's --lr, --lr-schedule, --warmup and --lr-final" %
                             (t, float(rec["lr"]), lr))
        losses = []
        for _ in range(per_step):
            x, y = loader.next()
            x, y = x.to(device), y.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
                loss = model(x, y)
            (loss / per_step).backward()
            losses.append(float(loss.detach()))
        loss_t = sum(losses) / per_step
        norm = clip_gradients(model, h["clip"])
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        opt.zero_grad(set_to_none=True)

        ingot = rec["loss"]
        rel = abs(ingot - loss_t) / abs(loss_t) if ingot is not None else float("inf")
        bad = not rel <= a.tol
        if bad:
            over.append(t)
        if not rel <= worst:
            worst, worst_step = rel, t
        ingot_norm = rec.get("norm")
        print("%5d %13.7f %13.7f %10.3e %11s %11.5f%s" %
              (t, float("nan") if ingot is None else ingot, loss_t, rel,
               "%.5f" % ingot_norm if ingot_norm is not None else "-", norm,
               "  over %g" % a.tol if bad else ""), flush=True)
    print("max rel diff %.3e at step %d over steps %d..%d (tolerance %g)" %
          (worst, worst_step, first, last, a.tol))
    if over:
        print("%s: FAIL: %d step(s) over the tolerance, the first %d" % (PROG, len(over), over[0]))
        return 1
    print("%s: OK" % PROG)
    return 0


def main(argv=None):
    a = parse_args(argv)
    try:
        return run(a)
    except InputError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
