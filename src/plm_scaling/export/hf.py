"""Our ProteinLM as a Hugging Face `transformers` model: stock GPT-NeoX for CLM, our own registered classes for MLM.

Importing this module registers `plm_scaling` with transformers' Auto classes (no remote code), so that
`AutoModelForMaskedLM.from_pretrained(folder)` loads an exported MLM run. CLM exports need no import of ours.

Stock architectures checked against our model (max |Δlogit| on real sequences of the valid split, trained runs of
1 and 2 layers, context 128; logits reach 19-21 there):

- GPT-NeoX (`GPTNeoXForCausalLM`) for CLM: FITS. Pre-LN blocks with `use_parallel_residual=False` are ours,
  `rotary_pct=1.0` rotates every dimension, `attention_bias=False`; its MLP always has biases, set to zero. Rotary
  pairs differ: ours rotates features (2i, 2i+1), GPT-NeoX (i, i + head_dim/2); permuting the rows of each head's
  queries and keys by the same permutation leaves q·k, so the attention, unchanged. Its fused qkv is laid out
  (head, [q, k, v], head_dim), ours ([q, k, v], head, head_dim). float32: 1.1e-5 and 6.7e-6, which is float32
  rounding: in float64 the two agree to 1e-14, and our own float32 logits differ from our float64 ones by 9.4e-6.
  Without the permutation: 19 and 8.
- GPT-NeoX for MLM: no, its attention is always causal (`GPTNeoXAttention.is_causal = True`): 12 and 4.8.
- ESM-2 (`EsmForMaskedLM`) for MLM: no. Its trunk matches ours (`token_dropout=False`, `emb_layer_norm_before=
  False`, zero biases, the same q/k permutation): `EsmForTokenClassification` with our embedding as its classifier
  gives 5.7e-6 and 7.6e-6 (float64: 5e-8). But ESM's masked-LM head adds dense -> GELU -> LayerNorm before the
  tied decoder, which ours lacks and which no choice of weights makes the identity (dense = I, LayerNorm =
  identity affine: 4.0 and 6.0). The token-classification export was rejected: AutoModelForMaskedLM would load
  that folder as EsmForMaskedLM with a randomly initialised head, silently wrong.
So MLM runs are exported as `PLMForMaskedLM`, which runs our ProteinLM itself (identical logits by construction).
tests/unit/test_export.py measures the tests' tiny 2-layer runs (context 32): CLM 2.9e-6, MLM 0.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import MaskedLMOutput

from ..data.vocab import CLS, EOS, MASK, PAD
from ..model.transformer import IGNORE, ModelShape, ProteinLM, Rotary


class PLMConfig(PreTrainedConfig):
    """The shape of our ProteinLM (model/transformer.py)."""

    model_type = "plm_scaling"

    def __init__(self, n_layers=1, d_model=8, n_heads=1, vocab_size=33, context=128, **kwargs):
        self.n_layers, self.d_model, self.n_heads = n_layers, d_model, n_heads
        self.vocab_size, self.context = vocab_size, context
        kwargs.setdefault("tie_word_embeddings", False)  # the output layer reuses embed.weight inside ProteinLM
        super().__init__(**kwargs)

    @property
    def shape(self) -> ModelShape:
        return ModelShape(self.n_layers, self.d_model, self.n_heads, self.vocab_size, self.context)


class PLMForMaskedLM(PreTrainedModel):
    """A bidirectional ProteinLM (an MLM run): input_ids (batch, time) -> logits (batch, time, vocab)."""

    config_class = PLMConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"

    def __init__(self, config: PLMConfig):
        super().__init__(config)
        self.model = ProteinLM(config.shape, causal=False)
        self.post_init()

    def _init_weights(self, module):
        # from_pretrained builds the model on the meta device and leaves non-persistent buffers empty: the rotary
        # tables are recomputed here (weights come from the file)
        if isinstance(module, Rotary):
            fresh = Rotary(2 * module.cos.shape[1], module.cos.shape[0])
            module.cos.copy_(fresh.cos)
            module.sin.copy_(fresh.sin)
        else:
            super()._init_weights(module)

    def get_input_embeddings(self):
        return self.model.embed

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs) -> MaskedLMOutput:
        if attention_mask is not None and not bool(attention_mask.all()):
            # the run trained on packed windows without padding; a padded position would be attended to
            raise ValueError("attention_mask with padding: this model has none; pass sequences of one length")
        logits = self.model(input_ids)
        loss = None
        if labels is not None:  # as training's token_loss: positions without a target hold IGNORE (-100)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE
            )
        return MaskedLMOutput(loss=loss, logits=logits)


AutoConfig.register(PLMConfig.model_type, PLMConfig, exist_ok=True)
AutoModelForMaskedLM.register(PLMConfig, PLMForMaskedLM, exist_ok=True)


def neox_qk_order(head_dim: int) -> torch.Tensor:
    """Rows of one head's queries (keys) in GPT-NeoX's rotary order: our pair (2i, 2i+1) becomes (i, i + half)."""
    return torch.cat([torch.arange(0, head_dim, 2), torch.arange(1, head_dim, 2)])


def to_gpt_neox(model: ProteinLM) -> GPTNeoXForCausalLM:
    """A CLM ProteinLM as a stock GPTNeoXForCausalLM with the same logits (see the module docstring)."""
    s = model.shape
    config = GPTNeoXConfig(
        vocab_size=s.vocab_size,
        hidden_size=s.d_model,
        num_hidden_layers=s.n_layers,
        num_attention_heads=s.n_heads,
        intermediate_size=4 * s.d_model,
        hidden_act="gelu",  # exact (erf) GELU, as F.gelu's default
        rotary_pct=1.0,
        rotary_emb_base=10000,
        max_position_embeddings=s.context,
        layer_norm_eps=1e-5,  # nn.LayerNorm's default
        use_parallel_residual=False,
        attention_bias=False,
        tie_word_embeddings=True,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        bos_token_id=CLS,  # every sequence is framed <cls> residues <eos> (training/data.py)
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    hf = GPTNeoXForCausalLM(config)
    missing, unexpected = hf.load_state_dict(neox_state(model), strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:  # lm_head is tied to the embedding
        raise RuntimeError(f"GPT-NeoX conversion: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    return hf.eval()


def neox_state(model: ProteinLM) -> dict[str, torch.Tensor]:
    """ProteinLM's weights under GPT-NeoX's names and layouts."""
    s, src = model.shape, model.state_dict()
    hd = s.d_model // s.n_heads
    order = neox_qk_order(hd)
    out = {"gpt_neox.embed_in.weight": src["embed.weight"]}
    for i in range(s.n_layers):
        ours, theirs = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        q, k, v = src[ours + "attn.qkv.weight"].view(3, s.n_heads, hd, s.d_model)
        per_head = torch.stack([q[:, order], k[:, order], v], dim=1)  # (head, [q, k, v], head_dim, d)
        out[theirs + "attention.query_key_value.weight"] = per_head.reshape(3 * s.d_model, s.d_model)
        out[theirs + "attention.dense.weight"] = src[ours + "attn.out.weight"]
        for norm, name in (("norm1", "input_layernorm"), ("norm2", "post_attention_layernorm")):
            out[f"{theirs}{name}.weight"], out[f"{theirs}{name}.bias"] = (
                src[ours + norm + ".weight"],
                src[ours + norm + ".bias"],
            )
        up, down = src[ours + "mlp.up.weight"], src[ours + "mlp.down.weight"]
        out[theirs + "mlp.dense_h_to_4h.weight"], out[theirs + "mlp.dense_h_to_4h.bias"] = up, up.new_zeros(len(up))
        out[theirs + "mlp.dense_4h_to_h.weight"], out[theirs + "mlp.dense_4h_to_h.bias"] = (
            down,
            down.new_zeros(len(down)),
        )
    out["gpt_neox.final_layer_norm.weight"], out["gpt_neox.final_layer_norm.bias"] = (
        src["norm.weight"],
        src["norm.bias"],
    )
    return out


def to_plm_mlm(model: ProteinLM) -> PLMForMaskedLM:
    s = model.shape
    config = PLMConfig(s.n_layers, s.d_model, s.n_heads, s.vocab_size, s.context, pad_token_id=PAD, mask_token_id=MASK)
    hf = PLMForMaskedLM(config)
    hf.model.load_state_dict(model.state_dict())
    return hf.eval()


def to_transformers(model: ProteinLM) -> PreTrainedModel:
    """The transformers model with our model's logits: GPT-NeoX for CLM, PLMForMaskedLM for MLM."""
    return to_gpt_neox(model) if model.causal else to_plm_mlm(model)


def auto_class(objective: str):
    """The Auto class that loads an export of `objective`."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
