"""Copy (pointer-generator) heads for the from-scratch tiny models: T5 and Llama.

Why by hand: neither transformers nor peft ships a pointer-generator, and the tiny models
need one. A 2-layer T5 trained for minutes on CPU learns the structure of PyTOD programs
but writes values from its language model instead of copying them: teacher-forced on the
toy test turns it wrote ``select(restaurant_name=" green pasta house ", ...)`` for "olive
pasta house", ``"6:30 am"`` for "10:30 am" and ``next(x20)`` for ``next(x22)``; the tiny
Llama of Spec-TOD fills DST calls with values the user never said. Values and variable
names are pieces of the context, so the output distribution mixes (See et al., 2017,
"Get To The Point")

    p(w) = g · p_vocab(w) + (1 - g) · Σ_{i: context_i = w} a_i

with a single-head copy attention ``a`` from the final hidden state over the context's
final states, and a gate ``g = σ(w · [state; copy context])``. The context is the encoder
output for T5, and every earlier position of the sequence (prompt and generated tokens)
for Llama. ``logits`` are the log of the mixture: ``generate`` (greedy, sampling, beams)
and the cross-entropy loss work unchanged on them.

``model.copy_head=true`` builds a config-built tiny model with the head. The classes are
registered as model types ``t5_copy`` / ``llama_copy``, so the Auto classes save and reload
them like any transformers model. Pretrained checkpoints are not affected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutputWithPast, Seq2SeqLMOutput

from tod_lab.errors import ConfigError

# the mixture's floor before the log: keeps logits finite for tokens neither part proposes
PROBABILITY_FLOOR = 1e-9
# modules a PEFT adapter must train in full: they start untrained on top of the base model
COPY_MODULES = ("copy_head",)


INIT_STD_ATTR = "_copy_head_init_std"


def init_linear(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, std=getattr(layer, INIT_STD_ATTR))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def init_copy_weights(module: nn.Module) -> bool:
    """The models' ``_init_weights`` hook: True where ``module`` is a layer of a copy head."""
    if getattr(module, INIT_STD_ATTR, None) is None:
        return False
    init_linear(module)
    return True


class CopyHead(nn.Module):
    """Mixes a vocabulary distribution with a copy distribution over context tokens."""

    def __init__(self, width: int):
        super().__init__()
        self.query = nn.Linear(width, width, bias=False)
        self.key = nn.Linear(width, width, bias=False)
        self.gate = nn.Linear(2 * width, 1)
        for layer in (self.query, self.key, self.gate):
            # variance-preserving projections of the (normalised) final states; the gate
            # bias starts at 0, an even mixture. The models' _init_weights read this: left
            # to transformers, T5's generic init (std = initializer_factor = 1.0) saturates
            # the gate at "vocabulary" and the copy path never trains
            setattr(layer, INIT_STD_ATTR, layer.in_features**-0.5)
            init_linear(layer)

    def forward(self, states, vocab_logits, context_keys, context_states, context_ids, allowed):
        """Log-probabilities (batch, steps, vocab).

        states (batch, steps, width): where the next token is predicted; context_keys /
        context_states (batch, context, width) and context_ids (batch, context): what can be
        copied; allowed (batch, steps | 1, context) bool: which context positions each step
        may point at.
        """
        scores = self.query(states) @ context_keys.transpose(1, 2)
        scores = scores.float() / math.sqrt(states.size(-1))
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        attention = F.softmax(scores, dim=-1)
        pointed = attention.to(context_states.dtype) @ context_states
        gate = torch.sigmoid(self.gate(torch.cat([states, pointed], dim=-1)).float())
        vocab_probs = F.softmax(vocab_logits.float(), dim=-1)
        copy_probs = torch.zeros_like(vocab_probs).scatter_add_(
            2, context_ids[:, None, :].expand(-1, attention.size(1), -1), attention
        )
        return torch.log((gate * vocab_probs + (1 - gate) * copy_probs).clamp_min(PROBABILITY_FLOOR))


# ----------------------------------------------------------------------------- T5

COPY_SOURCE_KEY = "copy_source_ids"


class T5CopyConfig(T5Config):
    model_type = "t5_copy"


class T5CopyForConditionalGeneration(T5ForConditionalGeneration):
    config_class = T5CopyConfig
    peft_modules_to_save = COPY_MODULES

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.copy_head = CopyHead(config.d_model)
        self.post_init()

    def _init_weights(self, module):
        if not init_copy_weights(module):
            super()._init_weights(module)

    # generate(): keep the source ids next to the encoder outputs, so every decoding step
    # can scatter its copy attention onto the vocabulary (beam search expands them with
    # the other model kwargs)
    def _prepare_text_encoder_decoder_kwargs_for_generation(self, inputs_tensor, model_kwargs, *args, **kwargs):
        model_kwargs = super()._prepare_text_encoder_decoder_kwargs_for_generation(
            inputs_tensor, model_kwargs, *args, **kwargs
        )
        model_kwargs[COPY_SOURCE_KEY] = inputs_tensor
        return model_kwargs

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None,
                decoder_attention_mask=None, encoder_outputs=None, past_key_values=None,
                inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                copy_source_ids=None, **kwargs) -> Seq2SeqLMOutput:
        source_ids = input_ids if input_ids is not None else copy_source_ids
        if source_ids is None:
            raise ValueError(
                f"{type(self).__name__} needs the source token ids to copy from: input_ids, or "
                f"{COPY_SOURCE_KEY} next to encoder_outputs"
            )
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(last_hidden_state=encoder_outputs[0])
        encoder_states = encoder_outputs[0]
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(labels)
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
            inputs_embeds=decoder_inputs_embeds, past_key_values=past_key_values,
            encoder_hidden_states=encoder_states, encoder_attention_mask=attention_mask,
            use_cache=use_cache, **kwargs,
        )
        states = decoder_outputs[0]
        scaled = states * (self.model_dim**-0.5) if self.config.scale_decoder_outputs else states
        if attention_mask is None:
            allowed = torch.ones_like(source_ids, dtype=torch.bool)[:, None, :]
        else:
            allowed = attention_mask.bool()[:, None, :]
        logits = self.copy_head(states, self.lm_head(scaled), self.copy_head.key(encoder_states),
                                encoder_states, source_ids, allowed)
        loss = None
        if labels is not None:
            loss = F.nll_loss(logits.flatten(0, 1), labels.to(logits.device).flatten(), ignore_index=-100)
        return Seq2SeqLMOutput(
            loss=loss, logits=logits, past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_states,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


# ----------------------------------------------------------------------------- Llama

COPY_MEMORY_KEY = "copy_memory"


@dataclass
class CopyCausalLMOutput(CausalLMOutputWithPast):
    # (keys, states, ids) of every position so far: the next decoding step points into it
    copy_memory: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


class LlamaCopyConfig(LlamaConfig):
    model_type = "llama_copy"


class LlamaCopyForCausalLM(LlamaForCausalLM):
    """Each position may copy any token at or before it (prompt and generated so far).

    With the key/value cache, generate() carries the copy keys, states and ids of earlier
    positions in ``copy_memory`` on the cache object itself, so beam search reorders the
    memory together with the cache (:meth:`_reorder_cache`).
    """

    config_class = LlamaCopyConfig
    peft_modules_to_save = COPY_MODULES

    def __init__(self, config: LlamaConfig):
        super().__init__(config)
        self.copy_head = CopyHead(config.hidden_size)
        self.post_init()

    def _init_weights(self, module):
        if not init_copy_weights(module):
            super()._init_weights(module)

    def _reorder_cache(self, past_key_values, beam_idx):
        """Beam search: the cache and the copy memory follow the surviving beams."""
        past_key_values.reorder_cache(beam_idx)
        memory = getattr(past_key_values, COPY_MEMORY_KEY, None)
        if memory is not None:
            setattr(past_key_values, COPY_MEMORY_KEY,
                    tuple(part.index_select(0, beam_idx.to(part.device)) for part in memory))
        return past_key_values

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, logits_to_keep=0,
                **kwargs) -> CopyCausalLMOutput:
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids: it copies tokens by id")
        # transformers 5 passes the key/value cache as ``cache`` (``past_key_values`` before)
        cache = kwargs.get("cache", past_key_values)
        copy_memory = getattr(cache, COPY_MEMORY_KEY, None) if cache is not None else None
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache, **kwargs,
        )
        states = outputs.last_hidden_state
        keys = self.copy_head.key(states)
        if labels is not None and self.training and copy_memory is None:
            return self._supervised_loss(states, keys, input_ids, attention_mask, labels, outputs)
        memory_states, memory_ids = states, input_ids
        if copy_memory is not None:
            keys = torch.cat([copy_memory[0], keys], dim=1)
            memory_states = torch.cat([copy_memory[1], states], dim=1)
            memory_ids = torch.cat([copy_memory[2], input_ids], dim=1)
        total, new = memory_ids.size(1), input_ids.size(1)
        keep = new if not logits_to_keep else min(int(logits_to_keep), new)
        query_states = states[:, new - keep:]
        # query i sits at absolute position total - keep + i
        allowed = _pointable(total - keep + torch.arange(keep, device=states.device), total,
                             attention_mask)
        logits = self.copy_head(query_states, self.lm_head(query_states), keys, memory_states,
                                memory_ids, allowed)
        loss = None
        if labels is not None:
            # the loss function's log-softmax leaves log-probabilities unchanged
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        memory = None if self.training else (keys, memory_states, memory_ids)
        if memory is not None and outputs.past_key_values is not None:
            # with the key/value cache the next step sees only its new tokens: the memory
            # rides on the cache object, the one thing generate() reorders between beam steps
            setattr(outputs.past_key_values, COPY_MEMORY_KEY, memory)
        return CopyCausalLMOutput(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions, copy_memory=memory,
        )

    def _supervised_loss(self, states, keys, input_ids, attention_mask, labels, outputs):
        """Training: the mixture only where a next token is supervised (``logits`` is None).

        Why: the vocabulary projection and the copy scatter cost (positions x vocabulary)
        each, and a chat example supervises about half of its positions (the calls and
        answers, not the prompt and the user's words). Same loss as the mixture at every
        position: the mean negative log-likelihood of the supervised tokens.
        """
        targets = labels.to(states.device)[:, 1:]  # position t predicts token t + 1
        total = torch.zeros((), device=states.device)
        count = 0
        for row in range(input_ids.size(0)):
            steps = (targets[row] != -100).nonzero(as_tuple=True)[0]
            if steps.numel() == 0:
                continue
            query = states[row : row + 1, steps]
            mask = attention_mask[row : row + 1] if attention_mask is not None else None
            allowed = _pointable(steps, input_ids.size(1), mask)
            log_probs = self.copy_head(query, self.lm_head(query), keys[row : row + 1],
                                       states[row : row + 1], input_ids[row : row + 1], allowed)
            total = total + F.nll_loss(log_probs[0], targets[row, steps], reduction="sum")
            count += steps.numel()
        # a batch without supervised tokens (all truncated away) contributes a zero that
        # still backpropagates, where a mean over nothing would be NaN
        loss = total / count if count else states.sum() * 0.0
        return CopyCausalLMOutput(loss=loss, logits=None, past_key_values=outputs.past_key_values,
                                  hidden_states=outputs.hidden_states, attentions=outputs.attentions)


def _pointable(query_positions, total: int, attention_mask) -> torch.Tensor:
    """(1 | batch, queries, total) bool: each query may point at the (unpadded) positions at
    or before its own absolute position."""
    positions = torch.arange(total, device=query_positions.device)
    allowed = (positions[None, :] <= query_positions[:, None])[None]
    if attention_mask is not None and attention_mask.dim() == 2:
        allowed = allowed & attention_mask[:, None, :total].bool()
    return allowed


def with_copy_head(config):
    """The copy-head variant of a T5 or Llama config (``model.copy_head=true``)."""
    if isinstance(config, (T5CopyConfig, LlamaCopyConfig)):
        return config
    for plain, copy in ((T5Config, T5CopyConfig), (LlamaConfig, LlamaCopyConfig)):
        if type(config) is plain:
            values = {k: v for k, v in config.to_dict().items() if k not in ("model_type", "architectures")}
            return copy(**values)
    raise ConfigError(
        "model.copy_head", f"copy heads exist for T5 and Llama, not {type(config).__name__}",
        "set model.copy_head=false",
    )


AutoConfig.register(T5CopyConfig.model_type, T5CopyConfig, exist_ok=True)
AutoModelForSeq2SeqLM.register(T5CopyConfig, T5CopyForConditionalGeneration, exist_ok=True)
AutoConfig.register(LlamaCopyConfig.model_type, LlamaCopyConfig, exist_ok=True)
AutoModelForCausalLM.register(LlamaCopyConfig, LlamaCopyForCausalLM, exist_ok=True)
