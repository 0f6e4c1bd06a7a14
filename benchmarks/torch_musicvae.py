"""A plain PyTorch port of the MusicVAE shapes that `musicvae_vs_torch.py` times beside trajvae.

Not part of the package: it runs in its own venv with a CPU build of PyTorch.
Same networks as trajvae's presets (bidirectional LSTM encoder, dense-tanh
initial states, z concatenated to every decoder input, conductor over bars
with a bottom decoder per bar), one teacher-forced training step =
forward + backward + global-norm clip + Adam on random tokens.

  python torch_musicvae.py SHAPE BATCH [--device cuda] [--dtype bfloat16]   # then one number per line on
                                                                            # stdin: steps to time
Each request prints one JSON line: {"step_s": [...], "peak_mb": ...} (seconds per step; peak CUDA memory
allocated on a GPU, peak resident memory on CPU). On CUDA, nn.LSTM runs cuDNN's LSTM; --dtype bfloat16
runs the step under torch.autocast (bfloat16 matmuls and LSTMs, float32 parameters).
"""

import argparse
import json
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 90
# name: (encoder size, encoder layers, decoder size, decoder layers, z, bars, steps per bar, hierarchical)
SHAPES = {
  "flat-2bar-small": (512, 1, 256, 2, 256, 2, 16, False),
  "hier-16bar-quarter": (512, 1, 256, 2, 256, 16, 16, True),
  "hier-16bar-reference": (2048, 2, 1024, 2, 512, 16, 16, True),
  # benchmarks/bench_gpu.py --smoke's tiny models
  "smoke-flat": (16, 1, 16, 2, 8, 2, 16, False),
  "smoke-hier": (16, 1, 16, 2, 8, 2, 16, True),
}


def initial_state(dense: nn.Linear, cond: torch.Tensor, layers: int, size: int):
  """dense-tanh(cond) split into per-layer (h, c), shaped for nn.LSTM."""
  state = torch.tanh(dense(cond)).view(cond.shape[0], layers, 2, size)
  c = state[:, :, 0].transpose(0, 1).contiguous()
  h = state[:, :, 1].transpose(0, 1).contiguous()
  return h, c


class Encoder(nn.Module):
  def __init__(self, size, layers, z):
    super().__init__()
    self.lstm = nn.LSTM(VOCAB, size, layers, batch_first=True, bidirectional=True)
    self.mu, self.sigma = nn.Linear(2 * size, z), nn.Linear(2 * size, z)

  def forward(self, x):
    _, (h, _) = self.lstm(x)
    code = torch.cat([h[-2], h[-1]], dim=-1)
    return self.mu(code), F.softplus(self.sigma(code))


class Decoder(nn.Module):
  """Categorical LSTM decoder conditioned on `cond` at every step; first input zeros."""

  def __init__(self, size, layers, cond_dim):
    super().__init__()
    self.size, self.layers = size, layers
    self.init = nn.Linear(cond_dim, 2 * size * layers)
    self.lstm = nn.LSTM(VOCAB + cond_dim, size, layers, batch_first=True)
    self.out = nn.Linear(size, VOCAB)

  def forward(self, x, cond):
    steps = x.shape[1]
    prev = F.pad(x[:, :-1], (0, 0, 1, 0))
    inputs = torch.cat([prev, cond[:, None].expand(-1, steps, -1)], dim=-1)
    out, _ = self.lstm(inputs, initial_state(self.init, cond, self.layers, self.size))
    return self.out(out)


class Conducted(nn.Module):
  """Conductor LSTM on zero inputs, one bottom decoder run per bar (batch x bars sequences)."""

  def __init__(self, size, layers, z, bars, steps):
    super().__init__()
    self.size, self.layers, self.bars, self.steps = size, layers, bars, steps
    self.init = nn.Linear(z, 2 * size * layers)
    self.conductor = nn.LSTM(1, size, layers, batch_first=True)
    self.bottom = Decoder(size, layers, size)

  def forward(self, x, z):
    batch = x.shape[0]
    emb, _ = self.conductor(x.new_zeros(batch, self.bars, 1), initial_state(self.init, z, self.layers, self.size))
    bars = x.reshape(batch * self.bars, self.steps, VOCAB)
    return self.bottom(bars, emb.reshape(batch * self.bars, self.size)).reshape(batch, self.bars * self.steps, VOCAB)


def build(shape):
  enc_size, enc_layers, dec_size, dec_layers, z, bars, steps, hier = SHAPES[shape]
  encoder = Encoder(enc_size, enc_layers, z)
  decoder = Conducted(dec_size, dec_layers, z, bars, steps) if hier else Decoder(dec_size, dec_layers, z)
  return encoder, decoder, bars * steps


def peak_mb(device: torch.device) -> float:
  """Peak CUDA memory allocated, or this process's own peak RSS (VmHWM: getrusage's maxrss would carry the
  parent's high-water mark over fork and exec)."""
  if device.type == "cuda":
    return torch.cuda.max_memory_allocated(device) / 2**20
  with open("/proc/self/status") as status:
    for line in status:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("shape", choices=list(SHAPES))
  parser.add_argument("batch", type=int)
  parser.add_argument("--device", default="cpu")
  parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
  args = parser.parse_args()
  device, batch = torch.device(args.device), args.batch
  torch.manual_seed(0)
  encoder, decoder, steps = build(args.shape)
  encoder, decoder = encoder.to(device), decoder.to(device)
  params = list(encoder.parameters()) + list(decoder.parameters())
  opt = torch.optim.Adam(params, lr=1e-3)
  tokens = torch.randint(0, VOCAB, (batch, steps), device=device)
  x = F.one_hot(tokens, VOCAB).float()

  def step():
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16"):
      mu, sigma = encoder(x)
      z = mu + sigma * torch.randn_like(sigma)
      logits = decoder(x, z).float()
    nll = F.cross_entropy(logits.reshape(-1, VOCAB), tokens.reshape(-1), reduction="sum") / batch
    kl = (0.5 * (mu.float() ** 2 + sigma.float() ** 2 - 1) - torch.log(sigma.float())).sum(-1).mean()
    loss = nll + 0.2 * kl
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()  # .item() waits for the device

  start = time.perf_counter()
  step()
  print(
    json.dumps(
      {
        "ready": True,
        "first_step_s": time.perf_counter() - start,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
      }
    ),
    flush=True,
  )
  for line in sys.stdin:
    times = []
    for _ in range(int(line)):
      t = time.perf_counter()
      step()
      times.append(time.perf_counter() - t)
    print(json.dumps({"step_s": times, "peak_mb": peak_mb(device)}), flush=True)


if __name__ == "__main__":
  main()
