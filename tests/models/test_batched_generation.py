"""BatchedGenerator: batched greedy == one-by-one greedy, input order, stops, prefixes, scores."""

from __future__ import annotations

import pytest
import torch

from tod_lab.models.generate import BatchedGenerator, cut_at_stop
from tod_lab.systems import Generator


def prompts_for(kind: str, rows: list[dict[str, str]]) -> list:
    if kind == "seq2seq":
        return [r["source"] for r in rows]
    return [[{"role": "system", "content": "Write the program."},
             {"role": "user", "content": r["source"]}] for r in rows]


@pytest.fixture(scope="module")
def unseen_rows(make_booking_rows):
    rows = make_booking_rows(14, 99)
    # very different lengths, so batches need real padding
    rows[3]["source"] = "book it"
    rows[7]["source"] = rows[7]["source"] + " and also " + rows[8]["source"] + " thanks a lot"
    return rows


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_batched_greedy_equals_one_by_one_in_input_order(model, trained_bundles, unseen_rows):
    bundle = trained_bundles[model]
    assert isinstance(bundle.generator(), Generator)
    prompts = prompts_for(bundle.kind, unseen_rows)
    batched = bundle.generator(batch_size=4, max_new_tokens=40).generate(prompts)
    single = bundle.generator(batch_size=1, max_new_tokens=40)
    one_by_one = [single.generate([p])[0] for p in prompts]
    assert batched == one_by_one
    assert len(set(batched)) > 3  # different inputs, different (non-trivial) outputs
    assert sum(o.startswith("x1 = reserve(") for o in batched) >= len(batched) // 2
    # outputs follow the inputs, not the length-sorted batches
    reversed_outputs = bundle.generator(batch_size=4, max_new_tokens=40).generate(prompts[::-1])
    assert reversed_outputs == batched[::-1]


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_beam_search_batched_equals_one_by_one(model, trained_bundles, unseen_rows):
    bundle = trained_bundles[model]
    prompts = prompts_for(bundle.kind, unseen_rows[:6])
    batched = bundle.generator(batch_size=3, max_new_tokens=30).generate(prompts, num_beams=3)
    single = bundle.generator(batch_size=1, max_new_tokens=30)
    assert batched == [single.generate([p], num_beams=3)[0] for p in prompts]


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_candidates_are_every_beam_best_first_in_input_order(model, trained_bundles, unseen_rows):
    bundle = trained_bundles[model]
    prompts = prompts_for(bundle.kind, unseen_rows[:6])
    generator = bundle.generator(batch_size=3, max_new_tokens=30)
    candidates = generator.generate_candidates(prompts, num_beams=3)
    assert [len(c) for c in candidates] == [3] * len(prompts)
    assert [c[0] for c in candidates] == generator.generate(prompts, num_beams=3)
    assert all(len(set(c)) > 1 for c in candidates)  # the other beams, not copies of the best
    single = bundle.generator(batch_size=1, max_new_tokens=30)
    assert candidates == [single.generate_candidates([p], num_beams=3)[0] for p in prompts]


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_stop_strings_cut_the_output(model, trained_bundles, unseen_rows):
    generator = trained_bundles[model].generator(max_new_tokens=40)
    prompts = prompts_for(trained_bundles[model].kind, unseen_rows[:6])
    full = generator.generate(prompts)
    stopped = generator.generate(prompts, stop=["<new>"])
    for whole, cut in zip(full, stopped, strict=True):
        assert cut == cut_at_stop(whole, ["<new>"]) and "<new>" not in cut
    assert any("<new>" in whole for whole in full)


def test_forced_prefix_continues_the_answer(trained_bundles, unseen_rows):
    bundle = trained_bundles["llama_tiny"]
    generator = bundle.generator(max_new_tokens=30)
    prompts = prompts_for("causal", unseen_rows[:4])
    prefixes = [f'x1 = reserve(restaurant="{name}' for name in ("sino", "sakura", "blue moon", "sino")]
    forced = generator.generate(prompts, prefixes=prefixes)
    # the same as continuing the rendered prompt + prefix as raw text
    raw = [generator.render_prompt(p, prefix) for p, prefix in zip(prompts, prefixes, strict=True)]
    assert generator.generate(raw) == forced
    assert all(not text.startswith("x1 = ") for text in forced)  # prefix not repeated
    with pytest.raises(ValueError):
        generator.generate(prompts, prefixes=prefixes[:2])


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_score_options_ranks_the_models_own_answer_first(model, trained_bundles, unseen_rows):
    bundle = trained_bundles[model]
    generator = bundle.generator(max_new_tokens=40)
    prompt = prompts_for(bundle.kind, unseen_rows[:1])[0]
    greedy = generator.generate([prompt])[0]
    options = [greedy.replace("reserve", "cancel"), greedy, greedy + " x9 = oops()", "no"]
    scores = generator.score_options(prompt, options)
    assert max(range(4), key=scores.__getitem__) == 1
    assert all(s < 0 for s in scores)
    # batching the options does not change their scores
    alone = [generator.score_options(prompt, [o])[0] for o in options]
    assert scores == pytest.approx(alone, abs=1e-4)
    assert generator.generate([]) == [] and generator.score_options(prompt, []) == []


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_score_options_batch_scores_each_prompt_as_alone(model, trained_bundles, unseen_rows):
    generator = trained_bundles[model].generator(max_new_tokens=40)
    prompts = prompts_for(trained_bundles[model].kind, unseen_rows[:3])
    options = [["x1 = reserve(", "no"], ["pass"], []]
    batched = generator.score_options_batch(prompts, options)
    alone = [generator.score_options(p, o) for p, o in zip(prompts, options, strict=True)]
    assert [len(row) for row in batched] == [2, 1, 0]
    for got, want in zip(batched, alone, strict=True):
        assert got == pytest.approx(want, abs=1e-4)
    with pytest.raises(ValueError):
        generator.score_options_batch(prompts, options[:2])


def test_chat_prompts_need_a_causal_model(trained_bundles):
    generator: BatchedGenerator = trained_bundles["t5_tiny"].generator()
    with pytest.raises(Exception, match="causal"):
        generator.generate([[{"role": "user", "content": "hi"}]])


class OnlyPrefixesOf:
    """A constraint allowing exactly one answer (and its prefixes on the way)."""

    def __init__(self, answer: str):
        self.answer = answer

    def viable(self, text: str) -> bool:
        return self.answer.startswith(text)

    def complete(self, text: str) -> bool:
        return text == self.answer


class Anything:
    def viable(self, text: str) -> bool:
        return True

    def complete(self, text: str) -> bool:
        return True


def test_constraint_searches_deeper_than_top_k_before_leaving_a_row_alone():
    """The allowed token ranks below ``top_k``: greedy decoding's fallback search still
    finds it; with the fallback off, the token scored -inf or under beam search the row is
    left to the model."""
    from tod_lab.models.generate import ViablePrefixLogitsProcessor

    class Letters:  # token i decodes to the i-th letter
        def decode(self, ids, skip_special_tokens=True):
            return "".join(chr(ord("a") + i) for i in ids)

    scores = torch.arange(20, 0, -1, dtype=torch.float).unsqueeze(0)  # token 0 best ... 19 worst
    only_p = OnlyPrefixesOf("p")  # token 15
    ids = torch.zeros((1, 0), dtype=torch.long)

    def step(fallback_k, row_scores=scores):
        processor = ViablePrefixLogitsProcessor(Letters(), [only_p], start=0, eos_ids=[99],
                                                top_k=4, fallback_k=fallback_k)
        return processor(ids, row_scores.clone())

    assert step(4096).argmax().item() == 15
    assert torch.isinf(step(4096)[0, :15]).all()
    assert torch.equal(step(0), scores)  # no fallback: left alone
    assert torch.equal(step(10), scores)  # token 15 ranks below the 10 searched
    unreachable = scores.clone()
    unreachable[0, 15] = float("-inf")
    assert torch.equal(step(4096, unreachable), unreachable)
    # under beam search (2 beams: rows 0 and 1 of one prompt) nothing is searched deeper
    beams = ViablePrefixLogitsProcessor(Letters(), [only_p], start=0, eos_ids=[99], keep=2,
                                        top_k=4, fallback_k=4096)
    two = scores.repeat(2, 1)
    assert torch.equal(beams(torch.zeros((2, 0), dtype=torch.long), two.clone()), two)


@pytest.mark.parametrize("model", ["t5_tiny", "llama_tiny"])
def test_constraints_steer_greedy_decoding_per_prompt(model, trained_bundles, unseen_rows):
    bundle = trained_bundles[model]
    prompts = prompts_for(bundle.kind, unseen_rows[:6])
    generator = bundle.generator(batch_size=4, max_new_tokens=40, constraint_top_k=10**6)
    free = generator.generate(prompts)
    # prompt i may only answer what the model wrote for prompt i + 1 (a different answer)
    wanted = free[1:] + free[:1]
    assert any(w != f for w, f in zip(wanted, free, strict=True))
    steered = generator.generate(prompts, constraints=[OnlyPrefixesOf(w) for w in wanted])
    assert steered == wanted
    # None leaves a prompt alone; a constraint that allows everything changes nothing
    mixed = generator.generate(prompts, constraints=[None, Anything()] * 3)
    assert mixed == free
    with pytest.raises(ValueError, match="2 constraints for 6 prompts"):
        generator.generate(prompts, constraints=[None, None])
