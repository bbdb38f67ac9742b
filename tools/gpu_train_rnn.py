"""Doom's M trained on a borrowed GPU with PyTorch: stages 01 + 03 + 04 in one process, no TensorFlow.

For a GPU machine that has PyTorch but not TensorFlow, to which our rollouts (tens of GB) cannot
travel: it plays the random-policy episodes itself (stage 01's rollout(), the same seeds, so the
same episodes), encodes every frame with V from a world model .npz (stage 03), and trains that
world model's M on (stage 04's recipe, below) until a deadline, writing M in npmodels' layout
to {out}/m.npz every minute and at the end, with the loss history in {out}/m_history.json.

    python tools/gpu_train_rnn.py train --world-model wm.npz --episodes 10000 --minutes 8 --out OUT

Then, on any machine, M goes back beside V into a world model for stage 05:

    python tools/gpu_train_rnn.py merge --world-model results/doom/world_model.npz \
        --m OUT/m.npz --to results/NAME/world_model.npz

(--done-shift X also adds X to the bias of M's done logit: an experiment of ours, not the paper's.)

Stage 04's recipe, computed the same way: all episodes joined into one stream, cut into windows of
500 steps from a random offset each epoch, batches of 100 windows, z re-sampled from (mu, logvar)
for every batch, input [z_t, a_t, restart_t], targets z_{t+1} and done_t, the LSTM state zeroed at
each window's start and at each episode's first frame, the z loss over steps that have a next frame
and the done loss (done weighted by restart_factor) over all, Adam (Keras' epsilon 1e-7) with the
original's decay, gradients clipped by value. One change of method, not of result: the state resets
inside a window are done by cutting each window at episode starts into segments that each start
from a zero state (what the reset computes), so that cuDNN's LSTM can run them as one padded batch.
tests/test_gpu_train_rnn.py compares this loss with arch.py's on the same batch.
"""
import argparse
import math
import os
import sys
import time
from multiprocessing import get_context

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import collect  # noqa: E402
import config  # noqa: E402
import fileio  # noqa: E402
import npmodels  # noqa: E402
import training  # noqa: E402

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- models (torch)
def torch_models(meta, vae_w, rnn_w, device):
    """V's encoder and M as torch modules holding the world model's weights."""
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList()
            for name, cin, cout in npmodels.ENCODER_CONVS:
                conv = nn.Conv2d(cin, cout, 4, stride=2)  # Keras 'valid', stride 2: 64 -> 31 -> 14 -> 6 -> 2
                conv.weight.data = torch.tensor(vae_w[name + "_w"], dtype=torch.float32).permute(3, 2, 0, 1).contiguous()
                conv.bias.data = torch.tensor(vae_w[name + "_b"], dtype=torch.float32)
                self.convs.append(conv)
            w = np.concatenate([vae_w["enc_fc_mu_w"], vae_w["enc_fc_logvar_w"]], 1).astype(np.float32)
            b = np.concatenate([vae_w["enc_fc_mu_b"], vae_w["enc_fc_logvar_b"]]).astype(np.float32)
            self.fc = nn.Linear(w.shape[0], w.shape[1])
            self.fc.weight.data, self.fc.bias.data = torch.tensor(w.T.copy()), torch.tensor(b)

        def forward(self, frames):  # uint8 (N, 64, 64, 3)
            x = frames.permute(0, 3, 1, 2).float() / 255.0
            for conv in self.convs:
                x = torch.relu(conv(x))
            out = self.fc(x.permute(0, 2, 3, 1).reshape(len(x), -1))  # Keras flattens NHWC
            return out.chunk(2, dim=1)

    class MDNRNN(nn.Module):
        def __init__(self):
            super().__init__()
            k = rnn_w["lstm_kernel"]
            self.lstm = nn.LSTM(k.shape[0], k.shape[1] // 4, batch_first=True)  # gates i, f, g, o as Keras
            self.head = nn.Linear(*rnn_w["head_w"].shape)
            self.lstm.weight_ih_l0.data = torch.tensor(k.T.copy(), dtype=torch.float32)
            self.lstm.weight_hh_l0.data = torch.tensor(rnn_w["lstm_recurrent"].T.copy(), dtype=torch.float32)
            self.lstm.bias_ih_l0.data = torch.tensor(rnn_w["lstm_bias"], dtype=torch.float32)
            self.lstm.bias_hh_l0.data.zero_()
            self.lstm.bias_hh_l0.requires_grad_(False)  # Keras has one bias
            self.head.weight.data = torch.tensor(rnn_w["head_w"].T.copy(), dtype=torch.float32)
            self.head.bias.data = torch.tensor(rnn_w["head_b"], dtype=torch.float32)

        def numpy_weights(self):
            g = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
            return {"lstm_kernel": g(self.lstm.weight_ih_l0).T.copy(),
                    "lstm_recurrent": g(self.lstm.weight_hh_l0).T.copy(),
                    "lstm_bias": g(self.lstm.bias_ih_l0) + g(self.lstm.bias_hh_l0),
                    "head_w": g(self.head.weight).T.copy(), "head_b": g(self.head.bias)}

    if not meta["predict_done"]:
        raise SystemExit("gpu_train_rnn: Doom world models only (predict_done); CarRacing's M trains fine on CPU")
    return Encoder().to(device), MDNRNN().to(device)


def losses(out, z_next, done, valid, z_size, mixtures, restart_factor):
    """arch.MDNRNN.compute_losses on flat rows: out (N, 1 + Z*3K), z_next (N, Z), done, valid (N,)."""
    import torch
    done_logit = out[:, 0]
    o = out[:, 1:].reshape(len(out), z_size, 3 * mixtures)
    logmix, mu, logstd = o.split(mixtures, dim=-1)
    logmix = logmix - torch.logsumexp(logmix, -1, keepdim=True)
    y = z_next.unsqueeze(-1)
    lognormal = -0.5 * ((y - mu) / torch.exp(logstd)) ** 2 - logstd - LOG_SQRT_2PI
    ll = torch.logsumexp(logmix + lognormal, -1)  # (N, Z)
    m = valid.unsqueeze(-1)
    z_loss = -(ll * m).sum() / torch.clamp(m.sum() * z_size, min=1.0)
    ce = torch.relu(done_logit) - done_logit * done + torch.log1p(torch.exp(-done_logit.abs()))
    done_loss = ((1.0 + done * (restart_factor - 1.0)) * ce).mean()
    return z_loss + done_loss, z_loss, done_loss


def forward_windows(rnn, stream, starts, seq_len, noise):
    """M over windows of the stream (04's make_batch): returns (out (B*L, W), z_next, done, valid), flat."""
    import torch
    B, L = len(starts), seq_len
    ar = torch.arange(L + 1, device=starts.device)
    idx = starts[:, None] + ar[None, :]
    mu, logvar = stream["mu"][idx], stream["logvar"][idx]
    z = mu + torch.exp(0.5 * logvar) * noise if noise is not None else mu
    t = idx[:, :L]
    restart = stream["restart"][t]
    x = torch.cat([z[:, :L], stream["action"][t], restart[..., None]], -1).reshape(B * L, -1)
    # segments: each window's first step and every episode start in it begin from a zero state
    seg = restart > 0.5
    seg[:, 0] = True
    first = seg.reshape(-1).nonzero().squeeze(1)  # flat positions, row-major
    length = torch.diff(first, append=torch.tensor([B * L], device=first.device))
    maxlen = int(length.max())
    pos = first[:, None] + torch.arange(maxlen, device=first.device)[None, :]
    keep = torch.arange(maxlen, device=first.device)[None, :] < length[:, None]
    pos = torch.where(keep, pos, 0)
    seq, _ = rnn.lstm(x[pos] * keep[..., None])
    h = torch.zeros(B * L, seq.shape[-1], device=seq.device, dtype=seq.dtype)
    h[pos[keep]] = seq[keep]
    return rnn.head(h), z[:, 1:].reshape(B * L, -1), stream["done"][t].reshape(-1), stream["valid"][t].reshape(-1)


# ----------------------------------------------------------------------------- data (01 + 03)
_env = None
_cfg = None


def _worker_init(cfg):
    global _cfg
    import envs
    envs.worker_init()
    _cfg = cfg


def _play(seed):
    global _env
    if _env is None:
        import envs
        _env = envs.make_env(_cfg)
    d = collect.rollout(_cfg, _env, seed)
    return d["obs"], d["action"], d["done"]


def play_and_encode(cfg, encoder, episodes, workers, budget_s, device, count):
    """Yield (mu, logvar, action, done) of episodes 0..episodes-1 (01's seeds), encoded by V (03);
    stop early at budget_s. count["episodes"] counts them."""
    import torch
    seeds = [collect.episode_seed(cfg, i) for i in range(episodes)]
    t0, frames = time.time(), 0
    with get_context("fork").Pool(workers, _worker_init, (cfg,)) as pool:
        encoder.to(device)  # only now: the pool forked before CUDA started in this process
        for obs, action, done in pool.imap(_play, seeds, chunksize=4):
            with torch.no_grad():
                mu, logvar = encoder(torch.from_numpy(obs).to(device))
            yield mu.cpu().numpy(), logvar.cpu().numpy(), action, done
            frames += len(obs)
            n = count["episodes"] = count["episodes"] + 1
            if n % 500 == 0 or n == len(seeds):
                print(f"[gpu] {n} episodes, {frames:,} frames, {time.time() - t0:.0f}s", flush=True)
            if time.time() - t0 > budget_s:
                print(f"[gpu] data budget of {budget_s:.0f}s reached after {n} episodes", flush=True)
                pool.terminate()
                return


# ----------------------------------------------------------------------------- train
def windows(n_steps, seq_len, batch, seed):
    """Stage 04's batches, epoch after epoch: (epoch, batch index, batches per epoch, starts)."""
    epoch = 0
    while True:
        starts = training.epoch_windows(n_steps, seq_len, seed, epoch)
        per_epoch = len(starts) // batch
        for b in range(per_epoch):
            yield epoch, b, per_epoch, starts[b * batch:(b + 1) * batch]
        epoch += 1


def save_m(out_dir, rnn, info):
    """{out_dir}/m.npz (M in npmodels' layout) and m_history.json, each via a tmp file + rename."""
    path = os.path.join(out_dir, "m.npz")
    fileio.save_npz(path, compressed=False, **rnn.numpy_weights())
    fileio.write_json(os.path.join(out_dir, "m_history.json"), info)
    return path


def train(args):
    import torch
    t_start = time.time()
    deadline = t_start + args.minutes * 60
    cfg = config.load(["doom", "cpu"], [f"seed={args.seed}"])
    rc = cfg.rnn
    meta, vae_w, rnn_w = npmodels.read_world_model(args.world_model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as on the CPU
    torch.backends.cudnn.allow_tf32 = False
    workers = args.workers or max(1, (os.cpu_count() or 2) - 1)
    encoder, rnn = torch_models(meta, vae_w, rnn_w, "cpu")
    count, t0 = {"episodes": 0}, time.time()
    stream_np = training.join_episodes(
        play_and_encode(cfg, encoder, args.episodes, workers, args.data_minutes * 60, device, count))
    gen_s, n_steps = time.time() - t0, len(stream_np["mu"])
    del encoder
    print(f"[gpu] data: {count['episodes']} episodes, {n_steps:,} steps in {gen_s:.0f}s ({workers} workers); "
          f"{device_name}", flush=True)
    stream = {k: torch.tensor(v.astype(np.float32) if v.dtype == bool else v, device=device)
              for k, v in stream_np.items()}
    rnn.to(device)
    seq_len = min(rc.seq_len, n_steps - 1)
    batch = min(rc.batch_size, len(training.epoch_windows(n_steps, seq_len, args.seed, 0)))  # as 04, for tiny data
    params = [p for p in rnn.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=rc.learning_rate, eps=1e-7)  # Keras' epsilon
    os.makedirs(args.out, exist_ok=True)
    hist, step, last_save = [], 0, time.time()
    gen = torch.Generator(device=device).manual_seed(args.seed)
    t_train = time.time()

    def info():
        return {"updates": step, "epochs_done": epoch + (b + 1 == per_epoch), "batch_in_epoch": b + 1,
                "batches_per_epoch": per_epoch, "episodes": count["episodes"], "steps": n_steps,
                "data_seconds": round(gen_s, 1), "train_seconds": round(time.time() - t_train, 1),
                "seq_len": seq_len, "batch_size": batch, "world_model": os.path.basename(args.world_model),
                "seed": args.seed, "device": device_name,
                "history_columns": ["update", "epoch", "loss", "z_loss", "done_loss"], "history": hist}

    for epoch, b, per_epoch, starts in windows(n_steps, seq_len, batch, args.seed):
        noise = torch.randn((batch, seq_len + 1, meta["z_size"]), generator=gen, device=device)
        for g in opt.param_groups:  # arch.OriginalDecay at the optimizer's step
            g["lr"] = (rc.learning_rate - rc.min_learning_rate) * rc.decay_rate ** step + rc.min_learning_rate
        out, z_next, done, valid = forward_windows(rnn, stream, torch.tensor(starts, device=device), seq_len, noise)
        loss, zl, dl = losses(out, z_next, done, valid, meta["z_size"], meta["mixtures"], rc.restart_factor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, rc.grad_clip)
        opt.step()
        step += 1
        if step % 25 == 0 or step == 1:
            vals = [loss.item(), zl.item(), dl.item()]
            if not all(math.isfinite(v) for v in vals):
                raise SystemExit(f"[gpu] non-finite loss at update {step}: {vals}; m.npz keeps the last good M")
            hist.append([step, epoch] + vals)
        if step % 200 == 0:
            print(f"[gpu] update {step} (epoch {epoch + 1}): loss {hist[-1][2]:.4f} (z {hist[-1][3]:.4f}, "
                  f"done {hist[-1][4]:.4f}), {(time.time() - t_train) / step * 1000:.1f} ms/update", flush=True)
        if time.time() >= deadline or 0 < args.max_updates <= step:
            break
        if time.time() - last_save > 60:
            save_m(args.out, rnn, info())
            last_save = time.time()
    final = info()
    path = save_m(args.out, rnn, final)
    print(f"[gpu] wrote {path}: {step} updates ({final['epochs_done']} full epochs) in {final['train_seconds']:.0f}s; "
          f"last loss {hist[-1][2]:.4f}", flush=True)


def merge(args):
    if os.path.exists(args.to) and not args.force:
        raise SystemExit(f"[gpu_train_rnn] {args.to} exists; pass --force to replace it")
    meta, vae_w, _ = npmodels.read_world_model(args.world_model)
    try:
        rnn_w = fileio.load_npz(args.m, what="M weights .npz")
    except fileio.DataError as e:
        raise SystemExit(f"[gpu_train_rnn] {e}")
    if args.done_shift:
        if "head_b" not in rnn_w or not meta["predict_done"]:
            raise SystemExit(f"[gpu_train_rnn] --done-shift needs a Doom M with a done head ({args.m})")
        rnn_w["head_b"] = np.array(rnn_w["head_b"], np.float32)
        rnn_w["head_b"][0] += np.float32(args.done_shift)  # column 0 is the done logit (arch.MDNRNN's layout)
    try:
        npmodels.save_world_model(args.to, str(meta["experiment"]), int(meta["z_size"]), int(meta["action_size"]),
                                  int(meta["hidden"]), int(meta["mixtures"]), bool(meta["predict_done"]),
                                  vae_w, rnn_w, decoder_dtype="float16")
    except ValueError as e:
        raise SystemExit(f"[gpu_train_rnn] {args.m} does not fit {args.world_model}: {e}")
    print(f"wrote {args.to}: V from {args.world_model}, M from {args.m}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--world-model", required=True, help="V + M to start from (npmodels .npz)")
    t.add_argument("--episodes", type=int, default=10000)
    t.add_argument("--seed", type=int, default=0, help="config seed: episode seeds and windows as stages 01 and 04")
    t.add_argument("--minutes", type=float, default=8.0, help="wall-clock deadline for the whole run")
    t.add_argument("--data-minutes", type=float, default=4.0, help="stop playing episodes after this long")
    t.add_argument("--max-updates", type=int, default=0)
    t.add_argument("--workers", type=int, default=0)
    t.add_argument("--out", required=True)
    m = sub.add_parser("merge")
    m.add_argument("--world-model", required=True, help="the world model whose V to keep")
    m.add_argument("--m", required=True)
    m.add_argument("--to", required=True)
    m.add_argument("--force", action="store_true", help="replace --to if it exists")
    m.add_argument("--done-shift", type=float, default=0.0,
                   help="ours, not the paper's: add this to the done logit's bias, so that the dream ends where "
                        "M's own logit > -shift (a more pessimistic death head for shift > 0)")
    args = p.parse_args()
    try:
        train(args) if args.cmd == "train" else merge(args)
    except fileio.DataError as e:
        raise SystemExit(f"[gpu_train_rnn] error: {e}")


if __name__ == "__main__":
    main()
