"""The copy (pointer-generator) heads of the tiny T5 and Llama: a distribution, generation
as in a plain loop without the cache, save/reload through the Auto classes, copying tokens
no target showed, and PEFT adapters that train the head in full."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

from tod_lab.errors import ConfigError
from tod_lab.models.factory import load_bundle
from tod_lab.models.pointer import (
    LlamaCopyConfig,
    LlamaCopyForCausalLM,
    T5CopyConfig,
    T5CopyForConditionalGeneration,
)

COPY_HEAD = "model.copy_head=true"
COPY_CLASS = {"t5_tiny": T5CopyForConditionalGeneration, "llama_tiny": LlamaCopyForCausalLM}
PAD, EOS, BOS = 0, 1, 2


def tiny_config(cls=T5CopyConfig, vocab: int = 64) -> T5Config:
    return cls(vocab_size=vocab, d_model=32, d_ff=64, d_kv=8, num_layers=1, num_decoder_layers=1,
               num_heads=4, dropout_rate=0.0, feed_forward_proj="gated-gelu",
               decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS)


def tiny_llama_config(cls=LlamaCopyConfig, vocab: int = 64, layers: int = 1) -> LlamaConfig:
    return cls(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
               pad_token_id=PAD, eos_token_id=EOS, bos_token_id=BOS)


def padded_batch(seed: int):
    generator = torch.Generator().manual_seed(seed)
    source = torch.randint(3, 64, (4, 9), generator=generator)
    mask = torch.ones_like(source)
    mask[0, 6:] = 0
    source[0, 6:] = PAD
    return source, mask


def test_logits_are_a_distribution_and_generate_matches_stepwise_argmax(tmp_path):
    torch.manual_seed(0)
    model = T5CopyForConditionalGeneration(tiny_config()).eval()
    source, mask = padded_batch(0)
    labels = torch.randint(3, 64, (4, 3))
    out = model(input_ids=source, attention_mask=mask, labels=labels)
    assert torch.allclose(out.logits.exp().sum(-1), torch.ones(4, 3), atol=1e-4)
    assert out.loss.item() == pytest.approx(
        torch.nn.functional.nll_loss(out.logits.reshape(-1, 64), labels.reshape(-1)).item())

    generated = model.generate(input_ids=source, attention_mask=mask, max_new_tokens=6, do_sample=False)
    # the same decoding without the key/value cache, one full forward per step
    steps = torch.full((4, 1), PAD)
    for _ in range(6):
        logits = model(input_ids=source, attention_mask=mask, decoder_input_ids=steps,
                       use_cache=False).logits[:, -1]
        steps = torch.cat([steps, logits.argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(generated, steps)
    beams = model.generate(input_ids=source, attention_mask=mask, max_new_tokens=6, num_beams=3)
    assert beams.shape[0] == 4

    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, T5CopyForConditionalGeneration)
    assert torch.equal(reloaded.generate(input_ids=source, attention_mask=mask, max_new_tokens=6), generated)


def plain_twin(copy_model, plain):
    """``plain`` with ``copy_model``'s weights: the same network without the copy head."""
    missing = plain.load_state_dict(copy_model.state_dict(), strict=False)
    assert all(key.startswith("copy_head.") for key in missing.unexpected_keys)
    return plain.eval()


def saturate_gate(model, towards: str) -> None:
    """Push the copy gate to one side: "vocab" (g = 1) or "copy" (g = 0)."""
    with torch.no_grad():
        model.copy_head.gate.weight.zero_()
        model.copy_head.gate.bias.fill_(50.0 if towards == "vocab" else -50.0)


def test_t5_gate_mixes_the_plain_model_with_a_distribution_over_source_tokens():
    torch.manual_seed(0)
    model = T5CopyForConditionalGeneration(tiny_config()).eval()
    plain = plain_twin(model, T5ForConditionalGeneration(tiny_config(T5Config)))
    source, mask = padded_batch(1)
    decoder_input = torch.randint(3, 64, (4, 5))
    with torch.no_grad():
        saturate_gate(model, "vocab")
        as_vocab = model(input_ids=source, attention_mask=mask, decoder_input_ids=decoder_input).logits
        reference = plain(input_ids=source, attention_mask=mask, decoder_input_ids=decoder_input).logits
        assert torch.allclose(as_vocab, torch.log_softmax(reference, -1), atol=1e-4)

        saturate_gate(model, "copy")
        probs = model(input_ids=source, attention_mask=mask, decoder_input_ids=decoder_input).logits.exp()
    for row in range(4):
        visible = source[row][mask[row].bool()].unique()  # never a padding position
        assert probs[row][:, visible].sum(-1).min() > 0.999
    assert probs[0][:, PAD].max() < 1e-6


def booking_prompts(bundle, booking_rows) -> list:
    prompts = [r["source"] for r in booking_rows[:3]]
    if bundle.kind == "causal":
        prompts = [[{"role": "user", "content": p}] for p in prompts]
    return prompts


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_lora_trains_the_copy_head_in_full_and_reloads(model, train_tiny, logged_losses, tmp_path,
                                                      booking_rows):
    bundle, _ = train_tiny(model, "lora", tmp_path, steps=12, extra=[COPY_HEAD, "optimizer.lr=1e-2"])
    assert isinstance(bundle.model.get_base_model(), COPY_CLASS[model])
    # peft trains a full copy of each module to save (copy_head.modules_to_save.default.*)
    trainable = {name for name, p in bundle.model.named_parameters() if p.requires_grad}
    for part in ("query", "key", "gate"):
        assert any("copy_head." in name and f".{part}." in name for name in trainable), \
            f"copy_head.{part} is frozen under LoRA: {sorted(trainable)[:8]}"
    losses = logged_losses(tmp_path)
    assert sum(losses[-4:]) < sum(losses[:4])
    prompts = booking_prompts(bundle, booking_rows)
    before = bundle.generator(max_new_tokens=12).generate(prompts)
    reloaded = load_bundle(tmp_path)
    assert isinstance(reloaded.model.get_base_model(), COPY_CLASS[model])
    assert reloaded.generator(max_new_tokens=12).generate(prompts) == before


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_full_fine_tuning_exports_a_copy_model_that_reloads(model, train_tiny, tmp_path, booking_rows):
    bundle, _ = train_tiny(model, "none", tmp_path, steps=4, extra=[COPY_HEAD])
    assert isinstance(bundle.model, COPY_CLASS[model])
    prompts = booking_prompts(bundle, booking_rows)
    before = bundle.generator(max_new_tokens=12).generate(prompts)
    reloaded = load_bundle(tmp_path)
    assert isinstance(reloaded.model, COPY_CLASS[model])
    assert reloaded.generator(max_new_tokens=12).generate(prompts) == before


def test_prefix_tuning_of_a_copy_model_is_refused_clearly(train_tiny, tmp_path):
    with pytest.raises(ConfigError, match="peft.method.*copy_head"):
        train_tiny("t5_tiny", "prefix", tmp_path, steps=2, extra=[COPY_HEAD])


# ----------------------------------------------------------------------------- Llama


def left_padded_batch(seed: int):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 64, (3, 8), generator=generator)
    mask = torch.ones_like(ids)
    ids[0, :3], mask[0, :3] = PAD, 0  # generation pads prompts on the left
    return ids, mask


def test_causal_logits_are_a_distribution_and_cached_generate_matches_full_recompute(tmp_path):
    torch.manual_seed(0)
    model = LlamaCopyForCausalLM(tiny_llama_config()).eval()
    ids, mask = left_padded_batch(0)
    out = model(input_ids=ids, attention_mask=mask, labels=ids)
    assert torch.allclose(out.logits.exp().sum(-1), torch.ones(3, 8), atol=1e-4)
    assert out.loss is not None and torch.isfinite(out.loss)

    generated = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False)
    # without the cache: every step recomputes the whole sequence (and its copy memory)
    steps, step_mask = ids, mask
    for _ in range(6):
        logits = model(input_ids=steps, attention_mask=step_mask, use_cache=False).logits[:, -1]
        steps = torch.cat([steps, logits.argmax(-1, keepdim=True)], dim=1)
        step_mask = torch.cat([step_mask, torch.ones_like(step_mask[:, :1])], dim=1)
    assert torch.equal(generated, steps)
    # beam search reorders the copy memory with the cache: the same beams as recomputing
    # the whole sequence (and its memory) at every step
    beams = dict(max_new_tokens=6, num_beams=3, num_return_sequences=3, output_scores=True,
                 return_dict_in_generate=True)
    cached = model.generate(input_ids=ids, attention_mask=mask, **beams)
    uncached = model.generate(input_ids=ids, attention_mask=mask, use_cache=False, **beams)
    assert torch.equal(cached.sequences, uncached.sequences)
    assert torch.allclose(cached.sequences_scores, uncached.sequences_scores, atol=1e-4)
    assert len({tuple(row) for row in cached.sequences[:3].tolist()}) == 3

    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, LlamaCopyForCausalLM)
    assert torch.equal(reloaded.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6), generated)


def test_causal_training_loss_is_the_full_mixture_loss_over_the_supervised_positions():
    """In training the head runs only where a next token carries loss (the prompt does not):
    the same loss as the mixture computed at every position, and the same gradients."""
    torch.manual_seed(0)
    model = LlamaCopyForCausalLM(tiny_llama_config())
    ids, mask = left_padded_batch(2)
    labels = ids.clone()
    labels[mask == 0] = -100
    labels[:, :5] = -100  # a prompt without loss
    labels[1] = -100  # a row without any
    model.eval()
    full = model(input_ids=ids, attention_mask=mask, labels=labels)
    full.loss.backward()
    full_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.train()
    part = model(input_ids=ids, attention_mask=mask, labels=labels)
    part.loss.backward()
    assert part.logits is None
    assert part.loss.item() == pytest.approx(full.loss.item(), rel=1e-4)
    for name, grad in full_grads.items():
        assert torch.allclose(model.get_parameter(name).grad, grad, atol=1e-5), name
    nothing = model(input_ids=ids, attention_mask=mask, labels=torch.full_like(ids, -100)).loss
    nothing.backward()  # no supervised token: a zero loss, not NaN, and no error
    assert nothing.item() == 0.0


def test_llama_gate_mixes_the_plain_model_with_a_distribution_over_earlier_tokens():
    torch.manual_seed(0)
    model = LlamaCopyForCausalLM(tiny_llama_config()).eval()
    plain = plain_twin(model, LlamaForCausalLM(tiny_llama_config(LlamaConfig)))
    ids, mask = left_padded_batch(1)
    with torch.no_grad():
        saturate_gate(model, "vocab")
        as_vocab = model(input_ids=ids, attention_mask=mask).logits
        reference = plain(input_ids=ids, attention_mask=mask).logits
        real = mask.bool()
        assert torch.allclose(as_vocab[real], torch.log_softmax(reference, -1)[real], atol=1e-4)

        saturate_gate(model, "copy")
        probs = model(input_ids=ids, attention_mask=mask).logits.exp()
    for row in range(3):
        for position in range(8):
            if not mask[row, position]:
                continue
            # the tokens at or before this position, padding excluded: never a later one
            earlier = ids[row, : position + 1][mask[row, : position + 1].bool()].unique()
            assert probs[row, position, earlier].sum() > 0.999


@pytest.mark.parametrize("config", [tiny_config(), tiny_llama_config()], ids=["t5", "llama"])
def test_copy_head_starts_variance_preserving_with_an_even_gate(config):
    """Built as the factory builds it (Auto class, from config): transformers' generic init
    (std 1.0 for T5) must not reach the head, or the gate saturates and copying never trains."""
    auto = AutoModelForSeq2SeqLM if isinstance(config, T5Config) else AutoModelForCausalLM
    head = auto.from_config(config).copy_head
    width = head.query.in_features
    for layer in (head.query, head.key, head.gate):
        assert layer.weight.std().item() == pytest.approx(layer.in_features**-0.5, rel=0.25)
    assert head.gate.bias.item() == 0.0
    states = torch.randn(2, 5, width)
    gate = torch.sigmoid(head.gate(torch.cat([states, states], dim=-1)))
    assert 0.2 < gate.mean().item() < 0.8


def test_copy_head_config_switch(compose, tmp_path):
    """model.copy_head=true turns the configured T5 / Llama into its copy variant; it is
    refused for pretrained checkpoints and for architectures without a copy variant."""
    from transformers import GPT2Config

    from tod_lab.models.factory import ModelSpec
    from tod_lab.models.pointer import with_copy_head

    spec = ModelSpec.from_config(compose(["+experiment=pytod_tiny"], run_dir=tmp_path).model)
    assert spec.copy_head and spec.kind == "seq2seq"
    llama = ModelSpec.from_config(compose(["+experiment=spectod_tiny"], run_dir=tmp_path).model)
    assert llama.copy_head and llama.kind == "causal"
    assert not ModelSpec.from_config(compose(["model=llama_tiny"], run_dir=tmp_path).model).copy_head
    t5 = with_copy_head(tiny_config(T5Config))
    assert type(t5) is T5CopyConfig and t5.d_model == 32 and t5.model_type == "t5_copy"
    assert type(with_copy_head(tiny_llama_config(LlamaConfig))) is LlamaCopyConfig
    with pytest.raises(ConfigError, match="model.copy_head.*GPT2Config"):
        with_copy_head(GPT2Config())
    pretrained = compose(["model=flan_t5_base", "+model.copy_head=true"], run_dir=tmp_path).model
    with pytest.raises(ConfigError, match="model.copy_head.*model.source=config"):
        ModelSpec.from_config(pretrained)
