"""A plain PyTorch port of the MusicVAE shapes that `musicvae_vs_torch.py` times beside trajvae.

Not part of the package: it runs in its own venv with a CPU build of PyTorch.
Same networks as trajvae's presets (bidirectional LSTM encoder, dense-tanh
initial states, z concatenated to every decoder input, conductor over bars
with a bottom decoder per bar), one teacher-forced training step =
forward + backward + global-norm clip + Adam on random tokens.

  python torch_musicvae.py SHAPE BATCH          # then one number per line on stdin: steps to time
Each request prints one JSON line: {"step_s": [...]} (seconds per step).
"""
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
    emb, _ = self.conductor(torch.zeros(batch, self.bars, 1), initial_state(self.init, z, self.layers, self.size))
    bars = x.reshape(batch * self.bars, self.steps, VOCAB)
    return self.bottom(bars, emb.reshape(batch * self.bars, self.size)).reshape(batch, self.bars * self.steps, VOCAB)


def build(shape):
  enc_size, enc_layers, dec_size, dec_layers, z, bars, steps, hier = SHAPES[shape]
  encoder = Encoder(enc_size, enc_layers, z)
  decoder = Conducted(dec_size, dec_layers, z, bars, steps) if hier else Decoder(dec_size, dec_layers, z)
  return encoder, decoder, bars * steps


def main():
  shape, batch = sys.argv[1], int(sys.argv[2])
  torch.manual_seed(0)
  encoder, decoder, steps = build(shape)
  params = list(encoder.parameters()) + list(decoder.parameters())
  opt = torch.optim.Adam(params, lr=1e-3)
  tokens = torch.randint(0, VOCAB, (batch, steps))
  x = F.one_hot(tokens, VOCAB).float()

  def step():
    mu, sigma = encoder(x)
    z = mu + sigma * torch.randn_like(sigma)
    logits = decoder(x, z)
    nll = F.cross_entropy(logits.reshape(-1, VOCAB), tokens.reshape(-1), reduction="sum") / batch
    kl = (0.5 * (mu**2 + sigma**2 - 1) - torch.log(sigma)).sum(-1).mean()
    loss = nll + 0.2 * kl
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()

  start = time.perf_counter()
  step()
  print(json.dumps({"ready": True, "first_step_s": time.perf_counter() - start,
                    "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
  for line in sys.stdin:
    times = []
    for _ in range(int(line)):
      t = time.perf_counter()
      step()
      times.append(time.perf_counter() - t)
    print(json.dumps({"step_s": times}), flush=True)


if __name__ == "__main__":
  main()
