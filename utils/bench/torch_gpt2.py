#!/usr/bin/env python3
"""PyTorch GPT-2 peer trainer (BENCHMARKS.md): nn.Linear/LayerNorm, SDPA causal attention,
autocast bf16 over fp32 master weights, fused AdamW, global-norm clip 1.0, random tokens.
Prints one JSON line (see common.result).

    python3 utils/bench/torch_gpt2.py --size 124m --batch 16 [--compile]
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class Block(nn.Module):
    def __init__(self, d, h, L):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc_proj = nn.Linear(4 * d, d)
        for lin in (self.qkv, self.proj, self.fc, self.fc_proj):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)
        for lin in (self.proj, self.fc_proj):
            nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * L))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        x = x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self, L, d, h, vocab=common.VOCAB, context=common.CONTEXT):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.blocks = nn.ModuleList([Block(d, h, L) for _ in range(L)])
        self.lnf = nn.LayerNorm(d)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.blocks:
            x = b(x)
        logits = F.linear(self.lnf(x), self.wte.weight)  # tied lm head
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="124m", choices=sorted(common.SIZES))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--window", type=int, default=5, help="steps per timed window")
    ap.add_argument("--lr", type=float, default=6e-4)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    L, d, h = common.SIZES[a.size]
    dev = "cuda"
    model = GPT(L, d, h).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    nodecay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = torch.compile(model) if a.compile else model
    # A small pool of random batches, cycled, so the loss can fall (memorization).
    pool = [torch.randint(0, common.VOCAB_REAL, (a.batch, a.seq + 1), device=dev) for _ in range(4)]
    pool = [(b[:, :-1].contiguous(), b[:, 1:].contiguous()) for b in pool]

    def step(i):
        x, y = pool[i % len(pool)]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    t0 = time.time()
    losses = []
    for i in range(a.warmup):
        losses.append(step(i))
    torch.cuda.synchronize()
    warm_s = time.time() - t0
    torch.cuda.reset_peak_memory_stats()
    windows = []
    i = a.warmup
    nwin = max(1, a.steps // a.window)
    for _ in range(nwin):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(a.window):
            losses.append(step(i))
            i += 1
        e1.record()
        e1.synchronize()
        windows.append(e0.elapsed_time(e1) / a.window)
    losses = [x.item() for x in losses]
    common.result("torch.compile" if a.compile else "torch eager", a.size, a.batch, a.seq,
                  windows, losses, torch.cuda.max_memory_allocated(),
                  {"warmup_s": round(warm_s, 1), "torch": torch.__version__,
                   "card": torch.cuda.get_device_name()})


if __name__ == "__main__":
    main()
