#!/usr/bin/python3
"""An independent PyTorch reference for Ingot's GPT-2 trainers (host target, f32).

It starts from an Ingot checkpoint directory (weights, AdamW moments, step and data position),
reads the same llm.c token shards as the trainer, trains a GPT-2 written here from the
architecture (not from Ingot's code) with its own global-norm clip, AdamW and learning-rate
schedule, and compares its per-step losses with the trainer's JSONL log:

  torch_reference.py --ckpt CKPT_DIR/step_00000000 --data 'D/train_*.bin' --log run.jsonl \
      --heads 4 --batch 8 --seq 64 --lr 3e-3 ...

The model (GPT-2, pre-norm):
  x = wte[tokens] + wpe[:T]
  per layer i (parameters layer.<i>.<name>):
    h = LayerNorm(x; ln1_g, ln1_b, eps 1e-5)
    q | k | v = split(h @ qkv_w + qkv_b, last axis, 3 equal parts)
    a = causal multi-head attention(q, k, v; heads), softmax(q k^T / sqrt(head_dim)) v
    x = x + a @ proj_w + proj_b
    m = LayerNorm(x; ln2_g, ln2_b)
    x = x + gelu_tanh(m @ fc_w + fc_b) @ fc_proj_w + fc_proj_b
  logits = LayerNorm(x; lnf_g, lnf_b) @ wte^T;  loss = mean cross-entropy over all B*T tokens
Layer count, width, vocabulary and context come from the checkpoint's tensor shapes.

The optimizer (Ingot's definition, written out here):
  norm = sqrt(sum of every gradient element squared); scale = clip / norm if clip > 0 and
  norm > clip, else 1;  g = grad * scale
  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
  p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p), wd only for rank >= 2
  lr(t): linear warmup lr * t / warmup for t <= warmup; then constant, or cosine / linear decay
  from lr to lr * lr_final over the steps after warmup (progress (t - warmup) / (steps - warmup)).

Exit status 0 when every step agrees (relative difference below --tol-first at the first step
and below --tol at every step), 1 otherwise, 2 on bad input.
"""
import argparse
import glob
import importlib
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "schema",
                      "checkpoint.fbs")


def fail(msg):
    print("torch_reference: error: " + msg, file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------------------
# The checkpoint: manifest.bin (flatbuffers, runtime/schema/checkpoint.fbs) + tensors.bin.

def load_manifest_module(schema):
    """Generates the Python reader of the checkpoint schema with flatc into a temp directory."""
    out = tempfile.mkdtemp(prefix="ingot-fbs-")
    try:
        subprocess.run(["flatc", "--python", "-o", out, schema], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        fail("cannot generate the checkpoint reader with flatc from %s: %s" % (schema, e))
    sys.path.insert(0, out)
    return importlib.import_module("ingot.ckpt.Manifest")


def read_checkpoint(path, schema):
    mod = load_manifest_module(schema)
    with open(os.path.join(path, "manifest.bin"), "rb") as f:
        buf = f.read()
    with open(os.path.join(path, "tensors.bin"), "rb") as f:
        blob = f.read()
    m = mod.Manifest.GetRootAsManifest(buf, 0)
    if len(blob) != m.TensorsBytes():
        fail("%s: tensors.bin has %d bytes, the manifest says %d" % (path, len(blob),
                                                                       m.TensorsBytes()))
    tensors = {}
    order = []
    for i in range(m.TensorsLength()):
        t = m.Tensors(i)
        name = t.Name().decode()
        if t.Dtype() != 0:
            fail("%s: tensor %s has dtype %d; this reference reads f32 checkpoints" %
                 (path, name, t.Dtype()))
        shape = [int(s) for s in t.ShapeAsNumpy()] if t.ShapeLength() else []
        n = 1
        for s in shape:
            n *= s
        if t.Bytes() != 4 * n:
            fail("%s: tensor %s: %d bytes for shape %s" % (path, name, t.Bytes(), shape))
        raw = bytearray(blob[t.Offset():t.Offset() + t.Bytes()])
        tensors[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(shape).clone()
        order.append(name)
    pos = m.TrainData()
    state = {"step": m.Step(), "shard": pos.Shard(), "offset": pos.Offset(),
             "model": m.Model().decode()}
    return tensors, order, state


# ---------------------------------------------------------------------------------------------
# Data: llm.c token shards, llm.c's loader.

def read_shard(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 1024:
        fail("%s: too short for a shard header" % path)
    header = struct.unpack("<256i", data[:1024])
    if header[0] == 20240520 and header[1] == 1:
        width, fmt = 2, "H"
    elif header[0] == 20240801 and header[1] == 7:
        width, fmt = 4, "I"
    else:
        fail("%s: not a token shard (magic %d version %d)" % (path, header[0], header[1]))
    n = header[2]
    if len(data) != 1024 + n * width:
        fail("%s: size does not match the header's %d tokens" % (path, n))
    return list(struct.unpack("<%d%s" % (n, fmt), data[1024:]))


class Loader:
    """B*T+1 consecutive tokens: inputs the first B*T, targets shifted by one; advance B*T; when
    the next batch would not fit, the next shard (wrapping around)."""

    def __init__(self, pattern, B, T, shard=0, offset=0):
        files = sorted(glob.glob(pattern))
        if not files:
            fail("no shard matches %s" % pattern)
        self.shards = [read_shard(p) for p in files]
        self.B, self.T = B, T
        self.shard, self.offset = shard, offset

    def next(self):
        bt = self.B * self.T
        tokens = self.shards[self.shard]
        buf = torch.tensor(tokens[self.offset:self.offset + bt + 1], dtype=torch.int64)
        assert buf.numel() == bt + 1
        x = buf[:-1].view(self.B, self.T)
        y = buf[1:].view(self.B, self.T)
        self.offset += bt
        if self.offset + bt + 1 > len(tokens):
            self.offset = 0
            self.shard = (self.shard + 1) % len(self.shards)
        return x, y


# ---------------------------------------------------------------------------------------------
# GPT-2.

def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def layer_norm(x, g, b, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * g + b


def attention(q, k, v, heads):
    B, T, C = q.shape
    hd = C // heads
    q = q.view(B, T, heads, hd).transpose(1, 2)
    k = k.view(B, T, heads, hd).transpose(1, 2)
    v = v.view(B, T, heads, hd).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v
    return y.transpose(1, 2).reshape(B, T, C)


def gpt2_loss(P, layers, heads, x_tokens, y_tokens):
    B, T = x_tokens.shape
    x = P["wte"][x_tokens] + P["wpe"][:T]
    for i in range(layers):
        L = lambda n: P["layer.%d.%s" % (i, n)]
        h = layer_norm(x, L("ln1_g"), L("ln1_b"))
        qkv = h @ L("qkv_w") + L("qkv_b")
        C = x.shape[-1]
        q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
        x = x + attention(q, k, v, heads) @ L("proj_w") + L("proj_b")
        m = layer_norm(x, L("ln2_g"), L("ln2_b"))
        x = x + gelu_tanh(m @ L("fc_w") + L("fc_b")) @ L("fc_proj_w") + L("fc_proj_b")
    h = layer_norm(x, P["lnf_g"], P["lnf_b"])
    logits = h @ P["wte"].t()
    return F.cross_entropy(logits.reshape(B * T, -1), y_tokens.reshape(B * T))


# ---------------------------------------------------------------------------------------------
# Optimizer and schedule.

def learning_rate(a, step, steps):
    if a.warmup > 0 and step <= a.warmup:
        return a.lr * step / a.warmup
    if a.lr_schedule == "constant" or steps <= a.warmup:
        return a.lr
    progress = min(1.0, max(0.0, (step - a.warmup) / (steps - a.warmup)))
    lr_min = a.lr * a.lr_final
    if a.lr_schedule == "cosine":
        return lr_min + (a.lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return a.lr - (a.lr - lr_min) * progress


@torch.no_grad()
def adamw_step(P, M, V, names, a, lr, t):
    sumsq = 0.0
    for n in names:
        sumsq += float((P[n].grad.double() ** 2).sum())
    norm = math.sqrt(sumsq)
    scale = a.clip / norm if a.clip > 0 and norm > a.clip else 1.0
    c1 = 1.0 - a.beta1 ** t
    c2 = 1.0 - a.beta2 ** t
    for n in names:
        p = P[n]
        g = p.grad * scale
        M[n].mul_(a.beta1).add_((1.0 - a.beta1) * g)
        V[n].mul_(a.beta2).add_((1.0 - a.beta2) * g * g)
        wd = a.weight_decay if p.dim() >= 2 else 0.0
        update = (M[n] / c1) / (torch.sqrt(V[n] / c2) + a.eps) + wd * p
        p.sub_(lr * update)
        p.grad = None
    return norm


# ---------------------------------------------------------------------------------------------

def read_log(path):
    losses, steps = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if "loss" in rec and "step" in rec:
                losses[int(rec["step"])] = float(rec["loss"])
                steps = int(rec.get("steps", steps or 0))
    return losses, steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", required=True, help="an Ingot checkpoint directory (step_NNNNNNNN)")
    ap.add_argument("--data", required=True, help="the trainer's --data glob")
    ap.add_argument("--log", required=True, help="the trainer's --log JSONL")
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True, help="B (micro-batch)")
    ap.add_argument("--seq", type=int, required=True, help="T")
    ap.add_argument("--microbatches", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None,
                    help="the run's --steps (for the lr schedule); default: from the log")
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--lr-schedule", choices=["constant", "cosine", "linear"], default="constant")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--lr-final", type=float, default=0.0)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=0.0)
    ap.add_argument("--tol-first", type=float, default=1e-5)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--schema", default=SCHEMA)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    tensors, order, state = read_checkpoint(a.ckpt, a.schema)
    names = [n for n in order if not (n.endswith(".m") or n.endswith(".v"))]
    for n in names:
        if n + ".m" not in tensors or n + ".v" not in tensors:
            fail("%s: no AdamW moments for %s" % (a.ckpt, n))
    if len(order) != 3 * len(names):
        fail("%s: %d tensors for %d parameters" % (a.ckpt, len(order), len(names)))
    layers = 0
    while "layer.%d.qkv_w" % layers in tensors:
        layers += 1
    V_, C = tensors["wte"].shape
    if C % a.heads:
        fail("width %d is not a multiple of --heads %d" % (C, a.heads))
    if a.seq > tensors["wpe"].shape[0]:
        fail("--seq %d exceeds the context %d" % (a.seq, tensors["wpe"].shape[0]))
    print("model %s: %d layers, width %d, vocab %d, context %d, %d heads; checkpoint step %d, "
          "data shard %d token %d" % (state["model"], layers, C, V_, tensors["wpe"].shape[0],
                                      a.heads, state["step"], state["shard"], state["offset"]))

    P = {n: tensors[n].clone().requires_grad_(True) for n in names}
    M = {n: tensors[n + ".m"].clone() for n in names}
    Vm = {n: tensors[n + ".v"].clone() for n in names}
    loader = Loader(a.data, a.batch, a.seq, state["shard"], state["offset"])

    ingot, logged_steps = read_log(a.log)
    steps = a.steps if a.steps is not None else logged_steps
    first = state["step"] + 1
    last = max(ingot) if ingot else 0
    if last < first:
        fail("%s: no logged step after the checkpoint's step %d" % (a.log, state["step"]))

    ok = True
    worst = 0.0
    print("%6s %14s %14s %10s" % ("step", "ingot", "torch", "rel diff"))
    for t in range(first, last + 1):
        loss_sum = 0.0
        for _ in range(a.microbatches):
            x, y = loader.next()
            loss = gpt2_loss(P, layers, a.heads, x, y)
            (loss / a.microbatches).backward()
            loss_sum += float(loss)
        loss_t = loss_sum / a.microbatches
        adamw_step(P, M, Vm, names, a, learning_rate(a, t, steps), t)
        if t not in ingot:
            fail("%s: step %d is not logged" % (a.log, t))
        rel = abs(ingot[t] - loss_t) / max(abs(loss_t), 1e-30)
        tol = a.tol_first if t == first else a.tol
        bad = not (rel < tol)
        ok = ok and not bad
        worst = max(worst, rel)
        print("%6d %14.8f %14.8f %10.3e%s" % (t, ingot[t], loss_t, rel,
                                              "  FAIL (tolerance %g)" % tol if bad else ""))
    print("max rel diff %.3e over steps %d..%d (tolerance %g at step %d, %g after)" %
          (worst, first, last, a.tol_first, first, a.tol))
    if not ok:
        print("torch_reference: FAIL: the trainer's losses differ from the reference")
        return 1
    print("torch_reference: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
