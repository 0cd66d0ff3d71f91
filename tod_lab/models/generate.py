"""Batched generation: the :class:`tod_lab.systems.Generator` the systems talk to.

A system hands over a whole "wave" of prompts (one per active dialogue); we sort them by
token length, generate in batches of similar length (little padding), and return the
texts in input order. Greedy results equal one-by-one generation (tested).

Prompts: a string (seq2seq source, or raw causal text), or for causal models a list of
chat messages rendered with the tokenizer's chat template plus the assistant header.
``prefixes`` force the start of each causal answer; the returned text is what the model
wrote *after* the prefix, cut before the first stop string. ``constraints`` (one per prompt,
or None) restrict decoding to outputs a system's grammar allows (see
:class:`ViablePrefixLogitsProcessor`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from tod_lab.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 128
    num_beams: int = 1
    batch_size: int = 32
    max_input_length: int | None = None  # prompts longer than this are truncated (warned)
    constraint_top_k: int = 16  # with constraints: how many best tokens a step may check
    # ... and where none of those is allowed, how deep in the ranking greedy decoding looks
    # before the row is left to the model (a copy head can put all of its best 16 on
    # disallowed spans)
    constraint_fallback_k: int = 4096


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    if not stop:
        return text
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


def _default_device(model) -> torch.device:
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_quantized", False):
        return next(model.parameters()).device  # bitsandbytes weights stay where they are
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class OutputConstraint(Protocol):
    """What a system allows one prompt's answer to be, asked over the decoded text."""

    def viable(self, text: str) -> bool:
        """Can ``text`` still be continued into an allowed answer?"""
        ...

    def complete(self, text: str) -> bool:
        """Is ``text`` an allowed answer as it stands (may generation stop)?"""
        ...


def word_alternation(words: Iterable[str]) -> str:
    """A regex group matching any of ``words`` literally (longest first: alternatives are
    tried in order)."""
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    return "(?:" + "|".join(re.escape(w) for w in ordered) + ")" if ordered else "(?!)"


def well_formed_value(value: str) -> bool:
    """No control characters and no run of spaces: the only whitespace a value carries is
    single spaces (between words, and the one each side of a spaced value). Values are
    compared stripped, so without this a constrained model could pad one out with
    separators (str.strip() removes \\x1c-\\x1f too) until it ran out of tokens."""
    return value.isprintable() and "  " not in value


class CopyableValues:
    """Values an answer may contain: a span of ``context`` between word boundaries, or one
    of ``allowed`` (categorical values, ``dontcare``); compared lower-cased.

    The value half of the systems' output grammars: a dialogue state value that is not a
    categorical one is something somebody said (true of SGD's non-categorical slots and
    of the toy corpora).
    """

    def __init__(self, context: str, allowed: Iterable[str] = ()):
        self.context = context.lower()
        self.allowed = frozenset(v.lower() for v in allowed)

    def _in_context(self, text: str, *, whole: bool) -> bool:
        tail = r"(?!\w)" if whole else ""
        return re.search(r"(?<!\w)" + re.escape(text) + tail, self.context) is not None

    def allows(self, value: str, *, complete: bool, allowed: Iterable[str] | None = None) -> bool:
        """``complete``: the whole value; otherwise a value still being written (a prefix).

        ``allowed`` replaces the fixed choices for this value (e.g. one argument's enum).
        """
        if not well_formed_value(value):
            return False
        choices = self.allowed if allowed is None else frozenset(v.lower() for v in allowed)
        if complete:
            text = value.strip().lower()
            return bool(text) and (text in choices or self._in_context(text, whole=True))
        text = unfinished(value)
        if text.endswith(" ") and self.allows(text[:-1], complete=True, allowed=choices):
            return True  # a whole value, then its closing pad
        return any(v.startswith(text) for v in choices) or self._in_context(text, whole=False)


def unfinished(value: str) -> str:
    """A value still being written, as compared: lower-cased, without its opening pad, but
    WITH a trailing space -- that space ends a word, so "nor " may not go on to "norwood"."""
    return value.lstrip(" ").lower()


def viable_choice(value: str, choices: Iterable[str], *, complete: bool) -> bool:
    """A value of a closed set (an enum, a categorical slot's forms): one of ``choices``
    (compared stripped and lower-cased) or, unfinished, on its way to one."""
    if not well_formed_value(value):
        return False
    lowered = {c.lower() for c in choices}
    if complete:
        return value.strip().lower() in lowered
    text = unfinished(value)
    if text.endswith(" ") and text[:-1] in lowered:
        return True  # a whole choice, then its closing pad
    return any(c.startswith(text) for c in lowered)


class ViablePrefixLogitsProcessor(LogitsProcessor):
    """Keeps, per row, only the best-scoring next tokens whose text stays viable.

    Each step looks at a row's ``top_k`` tokens in score order and keeps the first
    ``keep`` (= beams) whose decoded continuation the row's constraint accepts (an EOS
    token: when the text so far is complete); every other token gets -inf. Where none of
    the top ``top_k`` is viable, greedy decoding searches the ranking on down to
    ``fallback_k`` (tokens the model gives a finite score); where none of those is either
    (or under beam search), the row is left alone: the model's own choice is then parsed
    and rejected downstream like any other bad output. Checking candidates on decoded text
    keeps grammars character-level (see
    :mod:`tod_lab.pytod.constrained`) without a token-level automaton.
    """

    def __init__(self, tokenizer, constraints: Sequence[OutputConstraint | None], *,
                 start: int, eos_ids: Sequence[int], keep: int = 1, top_k: int = 16,
                 fallback_k: int = 0):
        self.tokenizer = tokenizer
        self.constraints = list(constraints)
        self.start = start
        self.eos_ids = set(eos_ids)
        self.keep = max(1, keep)  # = beams: the rows of one prompt are consecutive
        self.top_k = top_k
        self.fallback_k = fallback_k

    def _allowed(self, constraint: OutputConstraint, ids: list[int], text: str,
                 candidates: Sequence[int]) -> list[int]:
        kept = []
        for token in candidates:
            if token in self.eos_ids:
                ok = constraint.complete(text)
            else:
                ok = constraint.viable(self.tokenizer.decode(ids + [token], skip_special_tokens=True))
            if ok:
                kept.append(token)
                if len(kept) == self.keep:
                    break
        return kept

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        width = scores.shape[-1]
        top = scores.topk(min(self.top_k, width), dim=-1).indices.tolist()
        for row, candidates in enumerate(top):
            constraint = self.constraints[row // self.keep]
            if constraint is None:
                continue
            ids = input_ids[row, self.start:].tolist()
            if any(t in self.eos_ids for t in ids):
                continue  # finished: generate pads this row from here on
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if not constraint.viable(text):
                continue  # already off the grammar (an earlier unconstrained step)
            kept = self._allowed(constraint, ids, text, candidates)
            # greedy only: a beam with nothing allowed in its top_k is a poor hypothesis the
            # other beams stand in for, and searching thousands of tokens for each such beam
            # at each step made PyTOD's 4-beam agent ~4x slower
            if not kept and self.keep == 1 and self.fallback_k > len(candidates):
                values, deeper = scores[row].topk(min(self.fallback_k, width))
                finite = deeper[torch.isfinite(values)].tolist()
                kept = self._allowed(constraint, ids, text, finite[len(candidates):])
            if kept:
                mask = torch.full_like(scores[row], float("-inf"))
                mask[kept] = 0.0
                scores[row] = scores[row] + mask
        return scores


class BatchedGenerator:
    """Generates for many prompts at once; implements ``tod_lab.systems.Generator``."""

    def __init__(
        self,
        model,
        tokenizer,
        kind: str,
        *,
        settings: GenerationSettings | None = None,
        role_map: Mapping[str, str] | None = None,
        device: str | torch.device | None = None,
    ):
        if kind not in ("seq2seq", "causal"):
            raise ConfigError("model.kind", f"{kind!r} is not seq2seq or causal")
        self.model = model
        self.tokenizer = tokenizer
        self.kind = kind
        self.settings = settings or GenerationSettings()
        self.role_map = dict(role_map or {})
        self.device = torch.device(device) if device is not None else _default_device(model)
        if next(model.parameters()).device != self.device and not getattr(model, "is_quantized", False):
            model.to(self.device)
        model.eval()

    @classmethod
    def from_bundle(cls, bundle, **overrides) -> BatchedGenerator:
        spec = bundle.spec
        defaults = {k: v for k, v in spec.generation.items() if k in GenerationSettings.__dataclass_fields__}
        defaults.setdefault(
            "max_input_length", spec.max_source_length if spec.kind == "seq2seq" else spec.max_length
        )
        device = overrides.pop("device", None)
        defaults.update(overrides)
        return cls(bundle.model, bundle.tokenizer, spec.kind, settings=GenerationSettings(**defaults),
                   role_map=spec.role_map, device=device)

    # -- prompts -----------------------------------------------------------------------
    def render_prompt(self, prompt: Any, prefix: str | None = None) -> str:
        """The exact text the model continues from."""
        if isinstance(prompt, str):
            text = prompt
        else:
            if self.kind != "causal":
                raise ConfigError("model.kind", "chat-message prompts need a causal model")
            messages = [
                {"role": self.role_map.get(m["role"], m["role"]), "content": m["content"]}
                for m in prompt
            ]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if prefix:
            if self.kind != "causal":
                raise ConfigError("model.kind", "forced answer prefixes need a causal model")
            text += prefix
        return text

    def _encode(self, texts: Sequence[str], chat: Sequence[bool]) -> list[list[int]]:
        limit = self.settings.max_input_length
        encoded = []
        bos = self.tokenizer.bos_token
        for text, is_chat in zip(texts, chat, strict=True):
            # as in training: seq2seq sources get </s>, raw causal text the tokenizer's BOS;
            # a rendered chat (or raw text already starting with BOS) carries its own
            special = not is_chat and not (bos and text.startswith(bos))
            ids = self.tokenizer(text, add_special_tokens=special)["input_ids"]
            if limit and len(ids) > limit:
                log.warning("prompt of %d tokens truncated to %d", len(ids), limit)
                ids = ids[-limit:] if self.tokenizer.truncation_side == "left" else ids[:limit]
            encoded.append(ids)
        return encoded

    def _pad(self, rows: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        # decoder-only models continue from the last position: pad on the left
        left = self.kind == "causal"
        width = max(len(r) for r in rows)
        pad_id = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if left:
                ids[i, width - len(row):] = torch.as_tensor(row)
                mask[i, width - len(row):] = 1
            else:
                ids[i, : len(row)] = torch.as_tensor(row)
                mask[i, : len(row)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        size = max(1, self.settings.batch_size)
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _eos_ids(self) -> list[int]:
        ids = set()
        config_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (config_eos, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(value)
        return sorted(ids)

    # -- Generator protocol ------------------------------------------------------------
    def generate(
        self,
        prompts: list[Any],
        *,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        stop: list[str] | None = None,
        prefixes: list[str] | None = None,
        constraints: Sequence[OutputConstraint | None] | None = None,
    ) -> list[str]:
        candidates = self._generate(prompts, max_new_tokens=max_new_tokens, num_beams=num_beams,
                                    stop=stop, prefixes=prefixes, constraints=constraints)
        return [c[0] for c in candidates]

    def generate_candidates(
        self,
        prompts: list[Any],
        *,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        constraints: Sequence[OutputConstraint | None] | None = None,
    ) -> list[list[str]]:
        """Every finished beam of each prompt, best first (``num_beams`` of them): for
        callers that check the outputs (PyTOD's execution-guided decoding)."""
        return self._generate(prompts, max_new_tokens=max_new_tokens, num_beams=num_beams,
                              constraints=constraints, all_beams=True)

    @torch.inference_mode()
    def _generate(
        self,
        prompts: list[Any],
        *,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        stop: list[str] | None = None,
        prefixes: list[str] | None = None,
        constraints: Sequence[OutputConstraint | None] | None = None,
        all_beams: bool = False,
    ) -> list[list[str]]:
        if not prompts:
            return []
        if prefixes is not None and len(prefixes) != len(prompts):
            raise ValueError(f"{len(prefixes)} prefixes for {len(prompts)} prompts")
        if constraints is not None and len(constraints) != len(prompts):
            raise ValueError(f"{len(constraints)} constraints for {len(prompts)} prompts")
        texts = [self.render_prompt(p, prefixes[i] if prefixes else None) for i, p in enumerate(prompts)]
        encoded = self._encode(texts, [not isinstance(p, str) for p in prompts])
        outputs: list[list[str]] = [[] for _ in prompts]
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens or self.settings.max_new_tokens,
            "num_beams": num_beams or self.settings.num_beams,
            "do_sample": False,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self._eos_ids(),
        }
        per_prompt = kwargs["num_beams"] if all_beams else 1
        kwargs["num_return_sequences"] = per_prompt
        if stop:
            kwargs["stop_strings"] = list(stop)
            kwargs["tokenizer"] = self.tokenizer
        for batch in self._batches([len(e) for e in encoded]):
            inputs = self._pad([encoded[i] for i in batch])
            if constraints is not None:
                # seq2seq: the decoder's ids start with its start token (a special token,
                # dropped by decode); causal: after the (left-padded) prompt
                start = inputs["input_ids"].shape[1] if self.kind == "causal" else 0
                kwargs["logits_processor"] = LogitsProcessorList([ViablePrefixLogitsProcessor(
                    self.tokenizer, [constraints[i] for i in batch], start=start,
                    eos_ids=kwargs["eos_token_id"], keep=kwargs["num_beams"],
                    top_k=self.settings.constraint_top_k,
                    fallback_k=self.settings.constraint_fallback_k)])
            generated = self.model.generate(**inputs, **kwargs)
            if self.kind == "causal":
                generated = generated[:, inputs["input_ids"].shape[1]:]
            rows = generated.tolist()  # per_prompt rows per prompt, best first
            for number, i in enumerate(batch):
                for row in rows[number * per_prompt : (number + 1) * per_prompt]:
                    text = self.tokenizer.decode(row, skip_special_tokens=True)
                    outputs[i].append(cut_at_stop(text, stop))
        return outputs

    @torch.inference_mode()
    def score_options(self, prompt: Any, options: list[str]) -> list[float]:
        """Sum of token log-probabilities of each option as the answer to ``prompt``."""
        if not options:
            return []
        if self.kind == "seq2seq":
            return self._score_seq2seq(prompt, options)
        return self._score_causal(prompt, options)

    def _score_seq2seq(self, prompt: str, options: list[str]) -> list[float]:
        source = self._encode([self.render_prompt(prompt)], [False])[0]
        targets = [self.tokenizer(text_target=o)["input_ids"] for o in options]
        scores: list[float] = [0.0] * len(options)
        for batch in self._batches([len(t) for t in targets]):
            inputs = self._pad([source] * len(batch))
            width = max(len(targets[i]) for i in batch)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for row, i in enumerate(batch):
                labels[row, : len(targets[i])] = torch.as_tensor(targets[i])
            labels = labels.to(self.device)
            logits = self.model(**inputs, labels=labels).logits
            for row, value in zip(batch, _label_logprob(logits, labels).tolist(), strict=True):
                scores[row] = value
        return scores

    def _score_causal(self, prompt: Any, options: list[str]) -> list[float]:
        return self.score_options_batch([prompt], [options])[0]

    @torch.inference_mode()
    def score_options_batch(self, prompts: list[Any], options: list[list[str]]) -> list[list[float]]:
        """:meth:`score_options` for many prompts, every (prompt, option) pair batched."""
        if len(options) != len(prompts):
            raise ValueError(f"{len(options)} option lists for {len(prompts)} prompts")
        if self.kind == "seq2seq":
            return [self._score_seq2seq(p, o) if o else [] for p, o in zip(prompts, options, strict=True)]
        rows, starts, owners = [], [], []
        for number, (prompt, choices) in enumerate(zip(prompts, options, strict=True)):
            head = self.render_prompt(prompt)
            is_chat = not isinstance(prompt, str)
            head_ids = self._encode([head], [is_chat])[0]
            bos = self.tokenizer.bos_token
            special = not is_chat and not (bos and head.startswith(bos))
            for option in choices:
                # tokenise prompt + option together (as in training) and score the tokens
                # from the first one that differs from the prompt's own tokenisation
                ids = self.tokenizer(head + option, add_special_tokens=special)["input_ids"]
                start = 0
                while start < min(len(ids), len(head_ids)) and ids[start] == head_ids[start]:
                    start += 1
                rows.append(ids)
                starts.append(start)
                owners.append(number)
        flat: list[float] = [0.0] * len(rows)
        for batch in self._batches([len(r) for r in rows]):
            width = max(len(rows[i]) for i in batch)
            ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            labels = torch.full_like(ids, -100)
            for r, i in enumerate(batch):  # right padding: positions stay 0..n-1
                ids[r, : len(rows[i])] = torch.as_tensor(rows[i])
                mask[r, : len(rows[i])] = 1
                labels[r, starts[i] : len(rows[i])] = torch.as_tensor(rows[i][starts[i]:])
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            logits = logits[:, -width:]  # prompt tuning prepends virtual-token positions
            shifted_logits = logits[:, :-1]
            shifted_labels = labels[:, 1:].to(self.device)
            for row, value in zip(batch, _label_logprob(shifted_logits, shifted_labels).tolist(), strict=True):
                flat[row] = value
        scores: list[list[float]] = [[] for _ in prompts]
        for owner, value in zip(owners, flat, strict=True):
            scores[owner].append(value)
        return scores


def _label_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    mask = labels != -100
    picked = logprobs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)
