"""One Transformer for both objectives of the paper, to be read top to bottom.

- CLM (causal, GPT-style): token i attends to tokens ≤ i and predicts token i+1.
- MLM (bidirectional, BERT/ESM-style): every token attends to every token; the loss is on masked positions only.

Block: pre-norm (LayerNorm before attention and before the MLP, which trains stably without warm-up tricks at
every size of the ladder), rotary position embeddings on queries and keys (no learned positions, so N is the same
for any context), attention through PyTorch's scaled_dot_product_attention (flash / memory-efficient kernels on
GPU, a fused kernel on CPU).

MLP: GELU with a 4·d hidden layer, as ESM-2 and ProGen2. With bias-free linear layers a block then has exactly
4·d² (attention) + 8·d² (MLP) weights: the paper's N ≈ 12·L·d² holds to the LayerNorm parameters.

Embeddings are tied (the output layer reuses the token embedding, as ESM-2 does): with 33 tokens the embedding is
a negligible share of the parameters, and tying keeps "non-embedding N" unambiguous: everything but the one table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelShape:
    n_layers: int
    d_model: int
    n_heads: int
    vocab_size: int = 33
    context: int = 256

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"model.d_model {self.d_model} is not divisible by model.n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(f"model head size {self.d_model // self.n_heads} must be even for rotary embeddings")


class Rotary(nn.Module):
    """Rotary position embedding (Su et al.): rotate pairs of query/key features by position-dependent angles."""

    def __init__(self, head_dim: int, context: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
        angles = torch.outer(torch.arange(context).float(), inv_freq)  # (context, head_dim/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., time, head_dim)
        t = x.shape[-2]
        cos, sin = self.cos[:t].to(x.dtype), self.sin[:t].to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, shape: ModelShape, causal: bool):
        super().__init__()
        self.n_heads, self.causal = shape.n_heads, causal
        self.qkv = nn.Linear(shape.d_model, 3 * shape.d_model, bias=False)
        self.out = nn.Linear(shape.d_model, shape.d_model, bias=False)
        self.rotary = Rotary(shape.d_model // shape.n_heads, shape.context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)  # (3, b, h, t, hd)
        qk = self.rotary(qkv[:2])  # queries and keys in one call: half the per-operation overhead of two
        y = F.scaled_dot_product_attention(qk[0], qk[1], qkv[2], is_causal=self.causal)  # (b, h, t, hd)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, d_model: int):
        super().__init__()
        self.up = nn.Linear(d_model, 4 * d_model, bias=False)
        self.down = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, shape: ModelShape, causal: bool):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(shape.d_model), Attention(shape, causal)
        self.norm2, self.mlp = nn.LayerNorm(shape.d_model), MLP(shape.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ProteinLM(nn.Module):
    """Token ids (batch, time) -> logits (batch, time, vocab). `causal` picks CLM (True) or MLM (False)."""

    def __init__(self, shape: ModelShape, causal: bool):
        super().__init__()
        self.shape, self.causal = shape, causal
        self.embed = nn.Embedding(shape.vocab_size, shape.d_model)
        self.blocks = nn.ModuleList(Block(shape, causal) for _ in range(shape.n_layers))
        self.norm = nn.LayerNorm(shape.d_model)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith(("attn.out.weight", "mlp.down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * shape.n_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.shape.context:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens exceeds the model context {self.shape.context}")
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.embed.weight.T  # tied output layer

    def count_parameters(self) -> dict[str, int]:
        """total, and non-embedding N as the paper counts it (everything but the token embedding table)."""
        total = sum(p.numel() for p in self.parameters())
        return {"total": total, "non_embedding": total - self.embed.weight.numel()}


# The loss of both objectives: cross-entropy at the positions that have a target (CLM: every one; MLM: the masked).
IGNORE = -100  # the target of a position without one (F.cross_entropy's default ignore_index)


def token_loss(model: ProteinLM, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over the batch's target positions, and how many there were."""
    logits = model(batch["inputs"])  # (batch, time, vocab)
    targets = batch["targets"]  # (batch, time): token ids, IGNORE where there is no target
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE)
    return loss, (targets != IGNORE).sum()


class LossTally:
    """The mean loss over every target of many batches, whatever their sizes (validation, evaluation)."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, loss: torch.Tensor, count: torch.Tensor) -> None:
        self.total += float(loss) * int(count)
        self.count += int(count)

    def mean(self) -> float:
        return self.total / max(1, self.count)
