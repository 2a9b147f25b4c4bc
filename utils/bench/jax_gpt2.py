#!/usr/bin/env python3
"""JAX GPT-2 peer trainer (BENCHMARKS.md): fp32 params cast to bf16 for compute,
jax.nn.dot_product_attention(implementation="cudnn"), AdamW + global-norm clip 1.0 in one
jitted, donated step (optax when installed, else the same update written out). Random tokens.
Prints one JSON line (see common.result).

    python3 utils/bench/jax_gpt2.py --size 124m --batch 16
"""
import argparse
import math
import os
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

try:
    import optax
except ImportError:  # the device image may lack optax
    optax = None


def init_params(key, L, d, vocab=common.VOCAB, context=common.CONTEXT):
    ks = jax.random.split(key, 6)
    std, pstd = 0.02, 0.02 / math.sqrt(2 * L)
    n = lambda k, shape, s: s * jax.random.normal(k, shape, jnp.float32)  # noqa: E731
    p = {
        "wte": n(ks[0], (vocab, d), std),
        "wpe": n(ks[1], (context, d), std),
        "lnf_g": jnp.ones((d,)), "lnf_b": jnp.zeros((d,)),
        "blocks": {  # stacked over layers
            "ln1_g": jnp.ones((L, d)), "ln1_b": jnp.zeros((L, d)),
            "qkv_w": n(ks[2], (L, d, 3 * d), std), "qkv_b": jnp.zeros((L, 3 * d)),
            "proj_w": n(ks[3], (L, d, d), pstd), "proj_b": jnp.zeros((L, d)),
            "ln2_g": jnp.ones((L, d)), "ln2_b": jnp.zeros((L, d)),
            "fc_w": n(ks[4], (L, d, 4 * d), std), "fc_b": jnp.zeros((L, 4 * d)),
            "fcp_w": n(ks[5], (L, 4 * d, d), pstd), "fcp_b": jnp.zeros((L, d)),
        },
    }
    # one dict per layer (unrolled below; no stacked gradients to slice and re-assemble)
    p["blocks"] = [{k: v[i] for k, v in p["blocks"].items()} for i in range(L)]
    return p


def layernorm(x, g, b):
    xf = x.astype(jnp.float32)
    mu = xf.mean(-1, keepdims=True)
    var = ((xf - mu) ** 2).mean(-1, keepdims=True)
    return ((xf - mu) * jax.lax.rsqrt(var + 1e-5) * g + b).astype(jnp.bfloat16)


def make_loss(h):
    def loss_fn(params, x, y):
        p = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params)
        B, T = x.shape
        d = p["wte"].shape[1]
        # embeddings gathered from the fp32 weights (the backward scatter-add then runs in fp32)
        hx = (params["wte"][x] + params["wpe"][:T][None]).astype(jnp.bfloat16)

        def block(hx, w):
            a = layernorm(hx, w["ln1_g"], w["ln1_b"])
            qkv = a @ w["qkv_w"] + w["qkv_b"]
            q, k, v = jnp.split(qkv.reshape(B, T, 3, h, d // h), 3, axis=2)
            o = jax.nn.dot_product_attention(q[:, :, 0], k[:, :, 0], v[:, :, 0], is_causal=True,
                                             implementation="cudnn")
            hx = hx + o.reshape(B, T, d) @ w["proj_w"] + w["proj_b"]
            m = layernorm(hx, w["ln2_g"], w["ln2_b"])
            m = jax.nn.gelu(m @ w["fc_w"] + w["fc_b"], approximate=True)
            return hx + m @ w["fcp_w"] + w["fcp_b"], None

        for w in p["blocks"]:  # unrolled: XLA fuses and schedules across layers
            hx, _ = block(hx, w)
        hx = layernorm(hx, p["lnf_g"], p["lnf_b"])
        logits = (hx @ p["wte"].T).astype(jnp.float32)
        lse = jax.nn.logsumexp(logits, -1)
        tgt = jnp.take_along_axis(logits, y[..., None], -1)[..., 0]
        return (lse - tgt).mean()
    return loss_fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="124m", choices=sorted(common.SIZES))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--lr", type=float, default=6e-4)
    a = ap.parse_args()
    L, d, h = common.SIZES[a.size]
    params = init_params(jax.random.PRNGKey(0), L, d)
    # weight decay on matrices only
    mask = jax.tree.map(lambda v: v.ndim >= 2, params)
    loss_fn = make_loss(h)
    b1, b2, eps, wd = 0.9, 0.95, 1e-8, 0.1

    if optax is not None:
        tx = optax.chain(optax.clip_by_global_norm(1.0),
                         optax.adamw(a.lr, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=mask))
        opt_state = tx.init(params)

        def update(grads, opt_state, params):
            upd, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, upd), opt_state
    else:
        opt_state = (jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.zeros_like, params),
                     jnp.zeros((), jnp.int32))

        def update(grads, opt_state, params):
            m, v, t = opt_state
            t = t + 1
            gn = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads)))
            sc = jnp.minimum(1.0, 1.0 / (gn + 1e-6))
            grads = jax.tree.map(lambda g: g * sc, grads)
            m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
            v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t

            def upd(p, m, v, dk):
                u = (m / c1) / (jnp.sqrt(v / c2) + eps)
                return p - a.lr * (u + (wd * p if dk else 0.0))
            params = jax.tree.map(upd, params, m, v, mask)
            return params, (m, v, t)

    def _step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        params, opt_state = update(grads, opt_state, params)
        return params, opt_state, loss
    step = jax.jit(_step, donate_argnums=(0, 1))

    key = jax.random.PRNGKey(1)
    pool = [jax.random.randint(jax.random.fold_in(key, i), (a.batch, a.seq + 1), 0,
                               common.VOCAB_REAL, jnp.int32) for i in range(4)]
    pool = [(b[:, :-1], b[:, 1:]) for b in pool]
    losses = []
    t0 = time.time()
    for i in range(a.warmup):
        params, opt_state, loss = step(params, opt_state, *pool[i % 4])
        losses.append(loss)
    jax.block_until_ready(params)
    warm_s = time.time() - t0
    windows = []
    i = a.warmup
    for _ in range(max(1, a.steps // a.window)):
        t = time.perf_counter()
        for _ in range(a.window):
            params, opt_state, loss = step(params, opt_state, *pool[i % 4])
            losses.append(loss)
            i += 1
        jax.block_until_ready((params, loss))
        windows.append((time.perf_counter() - t) * 1e3 / a.window)
    losses = [float(x) for x in losses]
    dev = jax.devices()[0]
    stats = dev.memory_stats() or {}
    common.result("JAX", a.size, a.batch, a.seq, windows, losses,
                  stats.get("peak_bytes_in_use"),
                  {"warmup_s": round(warm_s, 1), "jax": jax.__version__,
                   "optax": optax is not None, "card": dev.device_kind})


if __name__ == "__main__":
    main()
