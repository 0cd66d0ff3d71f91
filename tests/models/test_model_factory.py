"""Tokenizers trained locally, offline model loading (and its failures), config checks."""

from __future__ import annotations

import sys
import time

import pytest
from datasets import Dataset

from tod_lab.errors import ConfigError, ModelUnavailableError
from tod_lab.models.factory import ModelSpec, load_bundle
from tod_lab.models.peft import PeftSpec, build_peft_config, require_bitsandbytes
from tod_lab.models.tokenizers import TokenizerSpec, train_tokenizer
from tod_lab.models.train import build_bundle, train

PYTOD_TARGET = 'x1 = restaurants_2_reserve_restaurant(time="11:30", seats=2)<new>x2 = hint("request value: city")'
SPECTOD_TARGET = '<function_call>{"function": "find_hotel", "arguments": {"area": "north"}}</function_call>\n\nAction: {}'
REAL_MODELS = ["flan_t5_small", "flan_t5_base", "flan_t5_large", "flan_t5_xl",
               "llama3_8b_instruct", "qwen2_5_0_5b_instruct", "qwen2_5_7b_instruct"]


@pytest.fixture(scope="module")
def sgd_texts(sgd_root) -> list[str]:
    from tod_lab.data.sgd import read_split
    from tod_lab.models.probe_data import state_rows

    rows = state_rows(read_split(sgd_root, "dev"), limit=3000)
    return [r["source"] for r in rows] + [r["target"] for r in rows]


@pytest.mark.parametrize("algorithm,pre_tokenizer",
                         [("unigram", "punctuation"), ("unigram", "whitespace"),
                          ("bpe", "punctuation"), ("bpe", "byte_level")])
def test_tokenizer_round_trips_real_text_and_keeps_added_tokens(algorithm, pre_tokenizer,
                                                                sgd_texts, tmp_path):
    texts = [*sgd_texts, PYTOD_TARGET, SPECTOD_TARGET]
    spec = TokenizerSpec(algorithm=algorithm, vocab_size=1500, pre_tokenizer=pre_tokenizer,
                         added_tokens=("<new>", "<function_call>", "</function_call>"))
    tokenizer = train_tokenizer(texts, spec, tmp_path)
    for text in texts[:1500:7] + texts[-2:]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    for token in spec.added_tokens:  # atomic, and not dropped as "special"
        ids = tokenizer(f"a {token} b", add_special_tokens=False)["input_ids"]
        assert tokenizer.convert_tokens_to_ids(token) in ids
    # seq2seq tokenizers end every sequence with </s>, like T5's
    assert tokenizer("hello")["input_ids"][-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("algorithm", ["unigram", "bpe"])
def test_pieces_of_a_value_are_the_same_in_the_utterance_and_the_program(
        algorithm, sgd_texts, tmp_path):
    """Punctuation pre-tokens: 'york' after a quote or before a full stop is still 'york'."""
    tokenizer = train_tokenizer(
        sgd_texts, TokenizerSpec(algorithm=algorithm, vocab_size=1500, pre_tokenizer="punctuation"),
        tmp_path)
    utterance = tokenizer.tokenize("user: find me a hotel in new york.\nagent: sure")
    program = tokenizer.tokenize('x1.city = " new york "\nx2 = hint(" request value ")')
    york = tokenizer.tokenize(" new york")
    assert _contains(utterance, york) and _contains(program, york)
    assert "." in utterance and "\n" in utterance and '"' in program  # isolated marks
    whitespace = train_tokenizer(
        sgd_texts, TokenizerSpec(algorithm="unigram", vocab_size=1500, pre_tokenizer="whitespace"),
        tmp_path)
    assert whitespace.tokenize("york.\nagent") != tokenizer.tokenize("york.\nagent")


def _contains(tokens: list[str], part: list[str]) -> bool:
    return any(tokens[i : i + len(part)] == part for i in range(len(tokens) - len(part) + 1))


def test_word_bpe_keeps_frequent_words_whole_where_unigram_spells_them_out(sgd_texts, tmp_path):
    """t5_tiny's tokenizer: a frequent city is one piece, and text needs far fewer tokens.

    The Unigram trainer of `tokenizers` stops far below the requested vocabulary on this
    kind of text and cuts common words into characters; BPE over the same pre-tokens
    does not.
    """
    def spec(algorithm):
        return TokenizerSpec(algorithm=algorithm, vocab_size=4000, pre_tokenizer="punctuation")

    bpe = train_tokenizer(sgd_texts, spec("bpe"), tmp_path)
    unigram = train_tokenizer(sgd_texts, spec("unigram"), tmp_path)
    sentence = "I want to make a restaurant reservation for 2 people in San Jose."
    assert bpe.tokenize(sentence) == [
        "I", "▁want", "▁to", "▁make", "▁a", "▁restaurant", "▁reservation",
        "▁for", "▁2", "▁people", "▁in", "▁San", "▁Jose", "."]
    # no space is invented before a text's first word: it is the piece a word has at the
    # start of a line (a target "x7.time = ..." and a prompt line "x7 = ..." share "x7")
    assert bpe.tokenize("San Jose")[:2] == bpe.tokenize("in:\nSan Jose")[3:5] == ["San", "▁Jose"]
    assert bpe.decode(bpe(sentence)["input_ids"], skip_special_tokens=True) == sentence
    assert len(unigram.tokenize(sentence)) > len(bpe.tokenize(sentence))
    sample = sgd_texts[:400]
    bpe_tokens = sum(len(bpe.tokenize(t)) for t in sample)
    unigram_tokens = sum(len(unigram.tokenize(t)) for t in sample)
    assert bpe_tokens < 0.8 * unigram_tokens


def test_unknown_pre_tokenizer_names_the_config_key():
    with pytest.raises(ConfigError, match="model.tokenizer.pre_tokenizer"):
        TokenizerSpec.from_config({"pre_tokenizer": "bytes"}, chat=False)
    with pytest.raises(ConfigError, match="byte_level needs algorithm=bpe"):
        TokenizerSpec.from_config({"algorithm": "unigram", "pre_tokenizer": "byte_level"},
                                  chat=False)


def test_tokenizer_cache_is_keyed_by_text(tmp_path):
    spec = TokenizerSpec(algorithm="bpe", vocab_size=300)
    first = train_tokenizer(["book a table for two", "find a hotel"] * 20, spec, tmp_path)
    again = train_tokenizer(["book a table for two", "find a hotel"] * 20, spec, tmp_path)
    other = train_tokenizer(["play some music", "set an alarm"] * 20, spec, tmp_path)
    cached = sorted(p.name for p in (tmp_path / "tokenizers").iterdir())
    assert len(cached) == 2
    assert first.get_vocab() == again.get_vocab() != other.get_vocab()


def test_chat_tokenizer_renders_roles_and_rejects_unknown_ones(tmp_path):
    spec = TokenizerSpec(algorithm="bpe", vocab_size=300, chat=True)
    tokenizer = train_tokenizer(["hello there", "find a hotel"] * 20, spec, tmp_path)
    messages = [{"role": r, "content": f"{r} text"} for r in
                ("system", "user", "function", "observation", "assistant")]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text.startswith("<s><|system|>\nsystem text<|end|>\n<|user|>")
    assert "<|observation|>\nobservation text<|end|>" in text
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>\n")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert "<|" not in tokenizer.decode(ids, skip_special_tokens=True)  # markers are special
    assert tokenizer.eos_token == "<|end|>"
    with pytest.raises(Exception, match="unknown chat role"):
        tokenizer.apply_chat_template([{"role": "robot", "content": "x"}], tokenize=False)


@pytest.mark.parametrize("name", REAL_MODELS)
def test_real_models_fail_at_once_offline_with_instructions(name, compose, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    cfg = compose([f"model={name}", "peft=lora"])
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as error:
        build_bundle(cfg)
    assert time.perf_counter() - started < 5
    message = str(error.value)
    assert "model.name_or_path=" in message and cfg.model.name_or_path in message
    assert "huggingface-cli download" in message


def test_missing_local_model_directory_is_named(compose, tmp_path):
    cfg = compose(["model=flan_t5_base", f"model.name_or_path={tmp_path}/nowhere"])
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        build_bundle(cfg)
    (tmp_path / "empty").mkdir()
    cfg = compose(["model=flan_t5_base", f"model.name_or_path={tmp_path}/empty"])
    with pytest.raises(ModelUnavailableError, match="without config.json"):
        build_bundle(cfg)


def test_local_pretrained_model_gains_added_token_trained_by_lora(compose, tmp_path,
                                                                   seq2seq_examples, booking_rows):
    """A "pretrained" T5 in a local dir (what flan_t5_* loads) lacking <new>: the token is
    added, its embedding row trained through LoRA's trainable tokens, and it reloads."""
    from tod_lab.models.factory import build_config_model, build_tiny_tokenizer

    spec = ModelSpec.from_config(compose(["model=t5_tiny", "model.architecture.d_model=64",
                                          "model.added_tokens=[]"]).model)
    texts = [t for r in booking_rows for t in (r["source"], r["target"].replace("<new>", " "))]
    tokenizer = build_tiny_tokenizer(spec, texts, tmp_path / "cache")
    local = tmp_path / "local-t5"
    build_config_model(spec, tokenizer, seed=0).save_pretrained(local)
    tokenizer.save_pretrained(local)
    assert "<new>" not in tokenizer.get_vocab()

    run_dir = tmp_path / "run"
    cfg = compose(["model=flan_t5_small", f"model.name_or_path={local}", "peft=lora",
                   "trainer=cpu", "trainer.lightning.max_steps=6", "trainer.progress_bar=none",
                   "trainer.batch_size=8", "optimizer.lr=1e-2"], run_dir=run_dir)
    bundle = train(cfg, seq2seq_examples, run_dir, model_kind="seq2seq")
    new_id = bundle.tokenizer.convert_tokens_to_ids("<new>")
    assert new_id == len(tokenizer)  # appended after the original vocabulary
    assert bundle.tokenizer("a<new>b", add_special_tokens=False)["input_ids"].count(new_id) == 1
    assert "trainable_token_indices" in (run_dir / "model" / "adapter" / "adapter_config.json").read_text()
    prompts = [r["source"] for r in booking_rows[:2]]
    assert load_bundle(run_dir).generator().generate(prompts) == bundle.generator().generate(prompts)


def test_model_kind_mismatch_and_bad_config_are_config_errors(compose, tmp_path, chat_examples):
    cfg = compose(["model=t5_tiny", "peft=lora", "trainer=cpu"], run_dir=tmp_path)
    with pytest.raises(ConfigError, match="causal model"):
        train(cfg, chat_examples, tmp_path, model_kind="causal")
    with pytest.raises(ConfigError, match="model.kind"):
        train(cfg, chat_examples, tmp_path)  # chat messages for a seq2seq model
    with pytest.raises(ConfigError, match="unknown keys"):
        ModelSpec.from_config({"name": "x", "kind": "seq2seq", "family": "t5", "source": "config",
                               "architecture": {"_target_": "x"}, "layers": 3})
    with pytest.raises(ConfigError, match="peft.target_modules"):
        build_peft_config(PeftSpec.from_config(compose(["peft=lora"]).peft), family="gpt_neox",
                          kind="causal", total_steps=10)
    cfg = compose(["model=t5_tiny", "peft=lora", "trainer=cpu",
                   "+trainer.data.task_weights.missing=2"], run_dir=tmp_path)
    with pytest.raises(ConfigError, match="task_weights"):
        train(cfg, {"book": Dataset.from_list([{"source": "a", "target": "b"}] * 20)}, tmp_path)


def test_qlora_refused_clearly_without_bitsandbytes(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import now fails
    with pytest.raises(ConfigError, match="peft=lora"):
        require_bitsandbytes(on_gpu=False)


def test_qlora_refused_where_4bit_kernels_cannot_run(monkeypatch):
    import bitsandbytes

    def broken(*args, **kwargs):
        raise RuntimeError("no 4-bit kernel for this device")

    monkeypatch.setattr(bitsandbytes.nn, "Linear4bit", broken)
    with pytest.raises(ConfigError, match="cannot run 4-bit layers on cpu.*peft=lora"):
        require_bitsandbytes(on_gpu=False)


def test_t5_with_a_deeper_decoder_trains_exports_and_generates(train_tiny, booking_rows, tmp_path):
    """transformers sizes T5's generation cache by the encoder depth: a deeper decoder
    failed with an IndexError at the first generate, after the whole training. The factory
    turns the cache off for such a model, and the exported model keeps that."""
    from tod_lab.models.factory import load_bundle

    bundle, _ = train_tiny("t5_tiny", "none", tmp_path, steps=2,
                           extra=["model.architecture.num_decoder_layers=3"])
    assert bundle.model.config.num_decoder_layers == 3
    assert bundle.model.generation_config.use_cache is False
    prompts = [r["source"] for r in booking_rows[:2]]
    before = bundle.generator(max_new_tokens=6).generate(prompts)
    reloaded = load_bundle(tmp_path)
    assert reloaded.model.generation_config.use_cache is False
    assert reloaded.generator(max_new_tokens=6).generate(prompts) == before
