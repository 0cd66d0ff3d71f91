"""Grammar-constrained AP decoding: which partial programs a prompt allows, and the agent
switch that hands the constraints to the generator."""

from __future__ import annotations

import pytest
from pytod_fakes import ScriptedGenerator
from pytod_schema_fixture import dialogue, schema

from tod_lab.data.types import DialogueSplit
from tod_lab.pytod.agent import Agent, AgentSettings
from tod_lab.pytod.constrained import ProgramConstraint, quoted_values
from tod_lab.pytod.examples import ExampleSettings, example_rows
from tod_lab.pytod.prompts import PromptSettings
from tod_lab.pytod.simulator import ApiCatalog

TINY_PROMPTS = PromptSettings(compact_apis=True, list_apis=False, instruction="update:",
                              target_labels=False, spaced_values=True,
                              statement_separator="<new>", max_history_lines=3,
                              keep_last_offer=True)


def gold_rows(prompts: PromptSettings = TINY_PROMPTS) -> list[dict]:
    split = DialogueSplit("sgd", "test", schema(), (dialogue(),))
    ap, _, _ = example_rows(split, seed=0, train=False, prompts=prompts,
                            settings=ExampleSettings(say_examples=False, ps_examples=False))
    return ap


def constraint(source: str) -> ProgramConstraint:
    return ProgramConstraint.for_prompt(source, ApiCatalog.from_schema(schema()), ["Restaurants_9"])


@pytest.mark.parametrize("prompts", [TINY_PROMPTS, PromptSettings()], ids=["tiny", "reference"])
def test_every_gold_program_and_each_of_its_prefixes_is_allowed(prompts):
    rows = gold_rows(prompts)
    assert len(rows) == 4
    for row in rows:
        c, target = constraint(row["source"]), row["target"]
        assert c.complete(target), target
        assert all(c.viable(target[:i]) for i in range(len(target) + 1)), target
        assert not c.complete(target[:-1])  # a cut-off program is not a whole one


def test_values_come_from_the_prompt_or_the_schema():
    row = gold_rows()[1]  # "sounds good, book it for 7 pm for two." after "bangkok bay"
    c = constraint(row["source"])
    assert row["target"].startswith('select(restaurant_name=" bangkok bay ", from_results=x1)')
    assert quoted_values(row["target"]) == ["bangkok bay", "7 pm"]
    head = "select(restaurant_name="
    assert c.viable(head + '" bangkok') and c.complete(head + '" bangkok bay ", from_results=x1)')
    # a memorised name nobody said, or half a word's span, is not a value
    assert not c.viable(head + '" golden dragon')
    assert not c.complete(head + '" bang ", from_results=x1)')
    # categorical values of the services and dontcare are allowed although unsaid
    assert c.complete('x1.price_range = " pricey "') and c.complete('x1.price_range = " dontcare "')
    assert c.viable('x1.price_range = " ') and not c.complete('x1.price_range = " "')


def test_a_categorical_slot_takes_only_what_the_runtime_accepts_for_it():
    row = gold_rows()[1]  # the prompt says "two", "7 pm", "bangkok bay"
    c = constraint(row["source"])
    # party_size is 1 | 2 | 3 | 4: digits, the number words for them, dontcare
    assert c.complete('x1.party_size = " two "') and c.complete('x1.party_size = " 4 "')
    assert c.complete('x1.party_size = " dontcare "') and c.viable('x1.party_size = " tw')
    # another slot's choice, or a said value that is no choice of this slot: not a value
    assert not c.viable('x1.party_size = " pricey "') and not c.viable('x1.party_size = " 7 pm')
    assert not c.complete('x1.party_size = " seven "')
    assert not c.viable('restaurants_9_reserve_restaurant(price_range=" bangkok')
    assert c.complete('restaurants_9_reserve_restaurant(price_range=" moderate ")')
    # free-text slots still copy from the prompt, never a span of its code
    assert c.complete('x1.time = " 7 pm "') and not c.viable('x1.time = ", city=')


def test_a_call_names_each_argument_once():
    c = constraint(gold_rows()[1]["source"])
    call = 'restaurants_9_reserve_restaurant(time=" 7 pm ", '
    assert c.viable(call + 'party_size=" two ")') and c.complete(call + 'party_size=" two ")')
    assert not c.viable(call + "time=")
    assert not c.complete(call + 'time=" 7 pm ")')


def test_shape_tools_slots_and_variables_are_the_prompts():
    row = gold_rows()[1]
    c = constraint(row["source"])
    assert c.complete("pass") and c.complete("confirm(x1)") and c.viable("conf")
    assert c.complete('x1.city = " san jose "; x1.party_size = 2')
    assert not c.viable("restaurants_9_order_pizza(")      # no such tool
    assert not c.viable("x1.wifi =")                        # no such slot
    assert not c.complete("confirm(x7)") and c.viable("confirm(x")  # x7 is not in the prompt
    # a degenerate repeat after a finished value
    assert not c.viable('x1.cuisine = " thai " thai " thai')
    assert not c.viable('x1.cuisine = " thai "<new><new>')
    assert not c.complete('x1.cuisine = ')


def test_the_agent_passes_one_constraint_per_prompt_only_when_switched_on():
    class Recording(ScriptedGenerator):
        def generate(self, prompts, **kwargs):
            self.seen.append(kwargs.get("constraints"))
            return super().generate(prompts, **kwargs)

    for switch in (False, True):
        generator = Recording(lambda prompt: "pass")
        generator.seen = []
        agent = Agent(ApiCatalog.from_schema(schema()), generator, prompts=TINY_PROMPTS,
                      settings=AgentSettings(parser_supervisor=False, predict_say=False,
                                             constrained_decoding=switch))
        agent.run([dialogue()])
        assert len(generator.seen) == 4  # one AP wave per user turn
        if switch:
            assert all(len(c) == 1 and isinstance(c[0], ProgramConstraint) for c in generator.seen)
        else:
            assert generator.seen == [None] * 4
