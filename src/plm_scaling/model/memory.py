"""How much memory training one model shape takes on one device: its parameters with their gradients and AdamW
state, and the activations the backward pass keeps at the run's batch and context.

The multiples below were measured on a CPU (fp32, eager, torch 2.13: peak resident memory of AdamW steps of
ProteinLM, minus the process before the first step, over batch × context × d_model): 27–29 values per token and
feature per block across 1–8 layers, d_model 64–512, context 64–1,024, either objective, and about 12 outside the
blocks (the embedding, the final norm, the backward pass's working tensors). A block's saved tensors alone are 19
(norm inputs and outputs, q/k/v, rotated q/k, the attention output and its reshaped copy, the MLP's 4·d up and
GELU); the rest is the allocator's and autograd's working room, which is real memory too.
"""

from __future__ import annotations

from .transformer import ModelShape

BYTES_PER_PARAM = 16  # fp32 weights, gradients and AdamW's two moments
VALUES_PER_BLOCK = 28  # activations kept per block, in units of batch × context × d_model (measured, see above)
VALUES_OUTSIDE_BLOCKS = 12  # embedding, final norm, backward working tensors (measured likewise)
LOGIT_COPIES = 3  # the logits, their fp32 copy for the loss, and its log-softmax (fp32 whatever the precision)


def bytes_per_activation(precision: str | int) -> int:
    """Bytes of one activation under a Lightning precision setting: 2 for 16-bit and mixed, 8 for 64, else 4."""
    text = str(precision)
    if text.startswith(("16", "bf16")):
        return 2
    return 8 if text.startswith("64") else 4


def parameter_bytes(shape: ModelShape, n_non_embedding: int) -> int:
    """Weights, gradients and AdamW state of every parameter, the (tied) embedding table included."""
    return BYTES_PER_PARAM * (n_non_embedding + shape.vocab_size * shape.d_model)


def activation_bytes(shape: ModelShape, batch: int, precision: str | int) -> int:
    """Activations of one training step at `batch` sequences of shape.context tokens on one device.

    Attention scores (batch × heads × context², one copy per block) are counted although the fused attention
    kernels (flash on CPU and GPU) never hold them: PyTorch falls back to its math kernel, which does, for inputs
    the fused ones do not take (on a GPU it ran out of memory at batch 64 × 1,024 tokens, README "GPU")."""
    tokens = batch * shape.context
    scores = batch * shape.n_heads * shape.context**2
    per_block = VALUES_PER_BLOCK * tokens * shape.d_model + scores
    values = shape.n_layers * per_block + VALUES_OUTSIDE_BLOCKS * tokens * shape.d_model
    return bytes_per_activation(precision) * values + 4 * LOGIT_COPIES * tokens * shape.vocab_size
