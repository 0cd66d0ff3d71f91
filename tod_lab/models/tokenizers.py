"""Tokenizers trained locally on the examples' own text (the offline tiny models).

The Hugging Face hub is unreachable here, so the tiny models cannot borrow a pretrained
tokenizer. We train one with the ``tokenizers`` library (Unigram like T5's sentencepiece,
or byte-level BPE like Llama 3) on the training text, wrap it in
``PreTrainedTokenizerFast`` and save it under ``<cache_dir>/tokenizers/<name>-<hash>``
so the same text never trains twice and ``AutoTokenizer.from_pretrained(dir)`` reloads it.

Two kinds of extra tokens:
- *role / control markers* (``<|user|>``, ``<|end|>``, ...) are special tokens: atomic and
  dropped by ``decode(skip_special_tokens=True)``;
- *added tokens* the systems write in their targets (PyTOD's ``<new>``, Spec-TOD's
  ``<function_call>``) are atomic but NOT special, so decoding keeps them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tod_lab.errors import ConfigError

log = logging.getLogger(__name__)

PAD, EOS, UNK, BOS = "<pad>", "</s>", "<unk>", "<s>"
CHAT_ROLES = ("system", "user", "assistant", "function", "observation")
END_OF_MESSAGE = "<|end|>"
# Our chat format (Llama-3-like: header marker, newline, content, end marker). Every
# rendering of a conversation prefix is a prefix of the whole rendering, which the causal
# data module relies on to find each message's span.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant', 'function', 'observation'] %}"
    "{{ raise_exception('unknown chat role ' ~ message['role'] ~ '; expected system, user, "
    "assistant, function or observation') }}"
    "{% endif %}"
    "{{ '<|' ~ message['role'] ~ '|>\n' ~ message['content'] ~ '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


PRE_TOKENIZERS = ("punctuation", "whitespace", "byte_level")
# any character that is neither a word character nor a plain space: punctuation, quotes,
# brackets, newlines and tabs each become a pre-token of their own
PUNCTUATION_PATTERN = r"[^\w ]"
BASE_ALPHABET = [*(chr(c) for c in range(32, 127)), "\n", "\t", "▁",
                 *(chr(c) for c in range(0xC0, 0x100))]


@dataclass(frozen=True)
class TokenizerSpec:
    """How to train a tokenizer; its JSON (with the text) is the cache key."""

    algorithm: str = "unigram"  # unigram | bpe
    vocab_size: int = 4000
    # How text is cut into words before the algorithm learns pieces.
    # "punctuation": every punctuation mark and newline is its own pre-token, then spaces
    # become "▁" (SentencePiece style), so "york" is the same piece in 'new york.' and in
    # 'city=" new york "' and the model can copy values; "whitespace": SentencePiece-like
    # splitting on spaces only (pieces such as ':\nx1' or 'tickets.\n' then hide the words
    # from the model); "byte_level": GPT-2's byte-level splitting (bpe only; no unknown
    # characters). None = the algorithm's default: punctuation for unigram, byte_level
    # for bpe.
    pre_tokenizer: str | None = None
    added_tokens: tuple[str, ...] = ()
    chat: bool = False  # causal models: role markers + our chat template + BOS
    model_max_length: int = 2048
    min_frequency: int = 2
    extra_special_tokens: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(cls, cfg: dict, *, chat: bool, added_tokens: Sequence[str] = ()) -> TokenizerSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(cfg) - known - {"chat"})
        if unknown:
            raise ConfigError(
                "model.tokenizer", f"unknown keys {unknown}", f"known keys: {sorted(known)}"
            )
        merged = {**cfg, "chat": chat}
        merged["added_tokens"] = tuple(dict.fromkeys([*cfg.get("added_tokens", ()), *added_tokens]))
        merged["extra_special_tokens"] = tuple(cfg.get("extra_special_tokens", ()))
        return cls(**merged)

    def __post_init__(self) -> None:
        if self.algorithm not in ("unigram", "bpe"):
            raise ConfigError(
                "model.tokenizer.algorithm", f"{self.algorithm!r} is not supported", "use unigram or bpe"
            )
        if self.pre_tokenizer is None:
            default = "byte_level" if self.algorithm == "bpe" else "punctuation"
            object.__setattr__(self, "pre_tokenizer", default)  # frozen: resolve once
        if self.pre_tokenizer not in PRE_TOKENIZERS:
            raise ConfigError(
                "model.tokenizer.pre_tokenizer", f"{self.pre_tokenizer!r} is not supported",
                f"use one of {list(PRE_TOKENIZERS)}",
            )
        if self.pre_tokenizer == "byte_level" and self.algorithm != "bpe":
            raise ConfigError(
                "model.tokenizer.pre_tokenizer", "byte_level needs algorithm=bpe",
                "use punctuation or whitespace with unigram",
            )

    @property
    def role_tokens(self) -> tuple[str, ...]:
        if not self.chat:
            return ()
        return (*(f"<|{role}|>" for role in CHAT_ROLES), END_OF_MESSAGE)

    @property
    def special_tokens(self) -> list[str]:
        # ids 0/1/2 = pad / eos / unk as in T5, so decoder_start_token_id = pad = 0
        return [PAD, EOS, UNK, BOS, *self.role_tokens, *self.extra_special_tokens]


def text_fingerprint(spec: TokenizerSpec, texts: Iterable[str]) -> str:
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _metaspace_pre_tokenizer(spec: TokenizerSpec):
    from tokenizers import Regex, pre_tokenizers

    # prepend_scheme="never": no space is invented, so decode(encode(text)) == text, and a
    # text's first word is the same piece as a word at the start of a line ("x7" opens a
    # target "x7.time = ..." and a prompt line "x7 = ...": the copy head can point at it)
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    if spec.pre_tokenizer == "punctuation":
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PUNCTUATION_PATTERN), behavior="isolated"), metaspace,
        ])
    return metaspace


def _build_raw_tokenizer(spec: TokenizerSpec):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if spec.pre_tokenizer == "byte_level":
        tokenizer = Tokenizer(models.BPE(unk_token=None))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=spec.vocab_size,
            min_frequency=spec.min_frequency,
            special_tokens=spec.special_tokens,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        return tokenizer, trainer
    if spec.algorithm == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=spec.vocab_size,
            special_tokens=spec.special_tokens,
            unk_token=UNK,
            max_piece_length=16,
            show_progress=False,
        )
    else:
        # BPE over "▁"-marked words: frequent words (values such as "▁portland") become one
        # piece. On the toy PyTOD examples the Unigram trainer stops at ~1,100 of 4,000
        # pieces and cuts 'portland' into '▁', 'p', 'ort', 'land'; BPE keeps whole words and
        # needs ~40% fewer tokens for the same text.
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(
            vocab_size=spec.vocab_size,
            min_frequency=spec.min_frequency,
            special_tokens=spec.special_tokens,
            # no byte fallback: printable ASCII, newline/tab and Latin-1 letters are always
            # pieces, even when the training text lacks them; rarer characters become <unk>
            initial_alphabet=BASE_ALPHABET,
            show_progress=False,
        )
    tokenizer.pre_tokenizer = _metaspace_pre_tokenizer(spec)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    return tokenizer, trainer


def _wrap(tokenizer, spec: TokenizerSpec):
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast

    if not spec.chat:
        # seq2seq: every sequence ends with </s>, like T5's tokenizer
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"$A {EOS}",
            pair=f"$A {EOS} $B {EOS}",
            special_tokens=[(EOS, tokenizer.token_to_id(EOS))],
        )
    if spec.added_tokens:
        tokenizer.add_tokens(
            [AddedToken(t, normalized=False, special=False) for t in spec.added_tokens]
        )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        eos_token=END_OF_MESSAGE if spec.chat else EOS,
        unk_token=UNK,
        bos_token=BOS,
        model_max_length=spec.model_max_length,
        extra_special_tokens=[*spec.role_tokens, *spec.extra_special_tokens],
        clean_up_tokenization_spaces=False,
    )
    if spec.chat:
        wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def train_tokenizer(texts: Sequence[str], spec: TokenizerSpec, cache_dir: str | Path):
    """The tokenizer for ``texts``: loaded from the cache, or trained and cached."""
    from transformers import AutoTokenizer

    if not texts:
        raise ConfigError(
            "model.tokenizer", "no training text to build the tiny model's tokenizer from",
            "the examples handed to train() are empty",
        )
    key = text_fingerprint(spec, texts)
    target = Path(cache_dir) / "tokenizers" / f"{spec.algorithm}-{spec.vocab_size}-{key}"
    if (target / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(str(target))
    raw, trainer = _build_raw_tokenizer(spec)
    raw.train_from_iterator(texts, trainer=trainer, length=len(texts))
    wrapped = _wrap(raw, spec)
    # write to a temp dir then rename: parallel jobs of a sweep may train the same one
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    wrapped.save_pretrained(str(tmp))
    try:
        os.replace(tmp, target)
    except OSError:  # another process won the race; use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("trained %s tokenizer (%d tokens) -> %s", spec.algorithm, len(wrapped), target)
    return AutoTokenizer.from_pretrained(str(target))


def add_tokens_to_pretrained(tokenizer, added_tokens: Sequence[str]) -> list[str]:
    """Add the systems' tokens to a pretrained tokenizer (atomic, kept by decode)."""
    from tokenizers import AddedToken

    vocab = tokenizer.get_vocab()
    new = [t for t in dict.fromkeys(added_tokens) if t not in vocab]
    if new:
        tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in new])
    return new


def tokenizer_fingerprint(tokenizer) -> str:
    """Identity of a tokenizer's behaviour (vocab, merges, added tokens, chat template)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    # truncation / padding are per-call settings the backend keeps from the last call
    state.pop("truncation", None)
    state.pop("padding", None)
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode())
    digest.update(str(getattr(tokenizer, "chat_template", None)).encode())
    digest.update(str(tokenizer.padding_side).encode())
    return digest.hexdigest()[:16]
