"""The online agent: train / inference prompt parity (an oracle model reproduces the gold
states), wave batching changes nothing, and each ablation switch changes the pipeline."""

from __future__ import annotations

import re

import pytest
from pytod_fakes import BeamGenerator, OracleGenerator, ScriptedGenerator
from pytod_helpers import first_file_split
from pytod_schema_fixture import dialogue, schema

from tod_lab.data.types import DialogueSplit
from tod_lab.pytod.agent import AgentSettings, run_agent
from tod_lab.pytod.constrained import quoted_values
from tod_lab.pytod.examples import ExampleSettings
from tod_lab.pytod.prompts import PromptSettings
from tod_lab.pytod.system import PyTODSystem


def fixture_split() -> DialogueSplit:
    return DialogueSplit("sgd", "dev", schema(), (dialogue(),))


def _states(result):
    return [
        [f.state for t in d.turns if t.is_user for f in t.frames] for d in result.predictions
    ]


def test_oracle_agent_reproduces_gold_states_on_the_fixture(tmp_path):
    data = fixture_split()
    oracle = OracleGenerator(data, PromptSettings())
    system = PyTODSystem(mode="agent")
    result = system.run(data, oracle, tmp_path)
    assert not oracle.misses, oracle.misses[0][-400:]
    assert result.metrics["joint_goal_accuracy"] == 1.0
    assert result.metrics["requested_slots_f1"] == 1.0
    assert result.details["ablations"] == {
        "execution_feedback": True, "schema_supervisor": "fuzzy", "parser_supervisor": True}
    assert (tmp_path / "agent_log.jsonl").is_file()
    table = (tmp_path / "metrics_table.md").read_text()
    assert "| pytod | 1.0000 |" in table and "no-op: previous state (baseline)" in table


@pytest.mark.real_data
def test_oracle_agent_on_real_sgd_dialogues_has_prompt_parity_and_jga_1(sgd_root, tmp_path):
    full = first_file_split(sgd_root, "dev")
    data = full.subset(full.dialogue_ids[:25])
    prompts = PromptSettings(max_prompt_chars=3000)  # truncation + task summary exercised
    oracle = OracleGenerator(data, prompts)
    system = PyTODSystem(mode="agent", prompts={"max_prompt_chars": 3000})
    result = system.run(data, oracle, tmp_path)
    assert not oracle.misses, oracle.misses[0][-600:]
    assert any("tasks so far:" in p for p in oracle.prompts)
    assert result.metrics["joint_goal_accuracy"] == 1.0
    assert result.metrics["active_intent_accuracy"] == 1.0
    # one generate call per wave and phase, not per dialogue
    waves = max(len(d.user_turns) for d in data.dialogues)
    assert oracle.calls <= 3 * waves


@pytest.mark.real_data
def test_oracle_parity_with_the_tiny_prompt_options():
    options = {"compact_apis": True, "target_labels": False, "max_history_lines": 4,
               "instruction": "update the tasks:", "spaced_values": True}
    data = fixture_split()
    system = PyTODSystem(mode="agent", prompts=options, agent={"predict_say": False})
    oracle = OracleGenerator(data, system.prompt_settings, system.example_settings)
    result = system.run(data, oracle, __import__("pathlib").Path(
        __import__("tempfile").mkdtemp()))
    assert not oracle.misses
    assert result.metrics["joint_goal_accuracy"] == 1.0
    assert all("say(" not in p for p in oracle.prompts)
    assert any('cuisine=" thai "' in p and '  thai' not in p for p in oracle.prompts)


def test_oracle_with_the_pytod_tiny_config_on_the_toy_corpus_has_jga_1(tmp_path):
    """What the tiny model is trained to write (lower-cased, spaced values, `<new>`
    separators, unlabelled statements) is what the runtime executes: gold targets given
    back as model output reproduce the gold states, booleans included."""
    from hydra.utils import instantiate
    from lab_testing import compose_config

    from tod_lab.pipeline import build_source

    cfg = compose_config(["+experiment=pytod_tiny", "data.train_dialogues=20", "data.dev_dialogues=60",
                          "data.test_dialogues=20", f"paths.cache_dir={tmp_path / 'cache'}"])
    data = build_source(cfg).read("dev")
    system = instantiate(cfg.system, _convert_="all")
    oracle = OracleGenerator(data, system.prompt_settings, system.example_settings)
    targets = " ".join(oracle.answers.values())
    assert re.search(r"= ?true\b", targets) and re.search(r"= ?false\b", targets)
    assert "<new>" in targets and " <new> " not in targets
    result = system.run(data, oracle, tmp_path / "run")
    assert not oracle.misses, oracle.misses[0][-400:]
    assert result.metrics["joint_goal_accuracy"] == 1.0
    # the config decodes under the program grammar, which allows the gold programs except
    # (rarely) one with a value said nowhere in its prompt: a toy confirmation that does
    # not read out every confirmed slot ("it is at 9 pm" -> date = "march 1st")
    assert system.agent_settings.constrained_decoding
    assert oracle.constrained == len(oracle.prompts)
    assert len(oracle.rejected) <= len(oracle.prompts) // 100
    for prompt, answer in oracle.rejected:
        assert any(v not in prompt for v in quoted_values(answer)), answer


@pytest.mark.real_data
def test_waves_and_one_at_a_time_give_identical_predictions(sgd_root):
    full = first_file_split(sgd_root, "dev")
    data = full.subset(full.dialogue_ids[:8])
    batched = run_agent(data, OracleGenerator(data, PromptSettings()))
    single_gen = OracleGenerator(data, PromptSettings())
    single = run_agent(data, single_gen, settings=AgentSettings(wave_size=1))
    assert [d.to_json() for d in batched.predictions] == [d.to_json() for d in single.predictions]


def _respond_first_turn_only(text):
    def respond(prompt: str) -> str:
        if prompt.startswith("q: answer"):
            return "1) san jose 2) unanswerable"
        lines = prompt.strip().splitlines()
        if lines[-1].startswith("user:") and "user:" not in "\n".join(lines[:-1]):
            return text
        return "pass"
    return respond


def test_execution_feedback_switch_removes_hints_and_signals_from_prompts_and_examples():
    data = fixture_split()
    for feedback in (True, False):
        for program in ('x1 = restaurants_9_find_restaurants(cuisine="thai")',  # -> hint
                        'x1 = restaurants_9_find_restaurants(cuisine="thai", city="sj")'):
            gen = ScriptedGenerator(_respond_first_turn_only(program))
            run_agent(data, gen, settings=AgentSettings(execution_feedback=feedback,
                                                        parser_supervisor=False))
            text = "\n".join(gen.prompts)
            marker = "hint(" if "city" not in program else "signal:"
            assert (marker in text) is feedback, (marker, feedback)
        system = PyTODSystem(agent={"execution_feedback": feedback})
        examples = system.build_examples(data, seed=0)
        sources = "\n".join(examples["ap"]["source"])
        assert ("hint(" in sources) is feedback and ("signal:" in sources) is feedback


def test_schema_supervisor_switch():
    data = fixture_split()
    typo = 'x1 = restaurants_9_find_restaurant(cusine="thai", citty="san jose")'
    fuzzy = run_agent(data, ScriptedGenerator(_respond_first_turn_only(typo)),
                      settings=AgentSettings(schema_supervisor="fuzzy", parser_supervisor=False))
    off = run_agent(data, ScriptedGenerator(_respond_first_turn_only(typo)),
                    settings=AgentSettings(schema_supervisor="off", parser_supervisor=False))
    first_fuzzy = fuzzy.predictions[0].turns[0].frames[0].state
    first_off = off.predictions[0].turns[0].frames[0].state
    assert dict(first_fuzzy.slot_values) == {"cuisine": ("thai",), "city": ("san jose",)}
    assert dict(first_off.slot_values) == {}
    assert fuzzy.log[0].repairs and not off.log[0].repairs
    assert off.log[0].rejected


def test_schema_supervisor_model_scores_masked_options():
    data = fixture_split()
    # "food_kind" is far from every slot name: fuzzy fails, the model picks option B
    program = 'x1 = restaurants_9_find_restaurants(city="san jose", food_kind="thai")'
    gen = ScriptedGenerator(_respond_first_turn_only(program), scores=[-5.0, -1.0, -9.0, -9.0])
    result = run_agent(data, gen, settings=AgentSettings(schema_supervisor="model",
                                                          parser_supervisor=False))
    prompt, options = gen.scored[0]
    assert "[mask]" in prompt and "food_kind" not in prompt
    assert options[:2] == ["A", "B"] and "none of these" in prompt
    # options: the intent's arguments in schema order: city, cuisine, price_range, outdoor
    state = result.predictions[0].turns[0].frames[0].state
    assert dict(state.slot_values) == {"city": ("san jose",), "cuisine": ("thai",)}
    assert result.stats["schema_supervisor"] == 1
    # the last option ("none of these") rejects
    gen = ScriptedGenerator(_respond_first_turn_only(program), scores=[-9, -9, -9, -9, 0.0])
    result = run_agent(data, gen, settings=AgentSettings(schema_supervisor="model",
                                                          parser_supervisor=False))
    assert dict(result.predictions[0].turns[0].frames[0].state.slot_values) == {
        "city": ("san jose",)}


def test_parser_supervisor_switch_fills_what_the_ap_missed():
    data = fixture_split()
    program = 'x1 = restaurants_9_find_restaurants(cuisine="thai")'  # the AP misses the city
    on = ScriptedGenerator(_respond_first_turn_only(program))
    result_on = run_agent(data, on, settings=AgentSettings(parser_supervisor=True))
    off = ScriptedGenerator(_respond_first_turn_only(program))
    result_off = run_agent(data, off, settings=AgentSettings(parser_supervisor=False))
    ps_prompts = [p for p in on.prompts if p.startswith("q: answer")]
    assert ps_prompts and not [p for p in off.prompts if p.startswith("q: answer")]
    assert "1) city of the restaurant?" in ps_prompts[0]
    first_on = result_on.predictions[0].turns[0].frames[0].state
    first_off = result_off.predictions[0].turns[0].frames[0].state
    assert first_on.slot_values["city"] == ("san jose",)
    assert "city" not in first_off.slot_values
    # the switch also removes the PS task from the training data
    assert "ps" in PyTODSystem().build_examples(data, seed=0)
    assert "ps" not in PyTODSystem(agent={"parser_supervisor": False}).build_examples(data, seed=0)


def test_hostile_model_output_never_breaks_the_agent():
    data = fixture_split()
    outputs = iter([
        'import os <new> x1 = __import__("os").system("ls")',
        "x1 = " + "(" * 200,
        "\n".join(["x1.a = 1"] * 3000),
        "x1.__class__.__mro__[1].__subclasses__()",
    ])

    def respond(prompt):
        return next(outputs, "pass")

    result = run_agent(data, ScriptedGenerator(respond))
    assert len(result.predictions) == 1
    assert result.stats["rejected_statements"] >= 4


def test_unknown_schema_supervisor_mode_names_the_config_key():
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="system.agent.schema_supervisor"):
        run_agent(fixture_split(), ScriptedGenerator(lambda p: "pass"),
                  settings=AgentSettings(schema_supervisor="magic"))
    with pytest.raises(ConfigError, match="system.prompts"):
        PyTODSystem(prompts={"no_such_option": 1})


def test_example_settings_follow_the_system_config():
    system = PyTODSystem(examples={"say_examples": False}, prompts={"describe_apis": False})
    assert system.example_settings == ExampleSettings(say_examples=False)
    examples = system.build_examples(fixture_split(), seed=0)
    assert all(not t.startswith("x") or "say(" not in t for t in examples["ap"]["target"])


def test_schema_supervisor_model_config_errors_are_clear():
    from tod_lab.errors import ConfigError, ModelUnavailableError

    system = PyTODSystem(agent={"schema_supervisor": "model"},
                         schema_supervisor_model={"name": "no_such_model"})
    with pytest.raises(ConfigError, match="system.schema_supervisor_model.name"):
        system._supervisor_generator()
    system = PyTODSystem(agent={"schema_supervisor": "model"},
                         schema_supervisor_model={"name": "flan_t5_small",
                                                  "name_or_path": "/nonexistent/flan-t5"})
    with pytest.raises(ModelUnavailableError, match="/nonexistent/flan-t5"):
        system._supervisor_generator()
    # fuzzy mode never loads it
    assert PyTODSystem(schema_supervisor_model={"name": "x"})._supervisor_generator() is None


def _first_turn_beams(beams):
    def respond(prompt: str) -> list[str]:
        lines = prompt.strip().splitlines()
        if lines[-1].startswith("user:") and "user:" not in "\n".join(lines[:-1]):
            return beams
        return ["pass"]
    return respond


def test_execution_guided_decoding_takes_the_first_beam_the_runtime_accepts_whole():
    data = fixture_split()
    find = "restaurants_9_find_restaurants"
    beams = [f'{find}(cuisine="thai", rating="5")',  # an argument the runtime drops
             f'{find}(cuisine="thai")\nx1.cuisine = "thai"',  # an assignment that changes nothing
             f'{find}(cuisine="thai", city="san jose")',
             f'{find}(city="san jose")']
    settings = AgentSettings(parser_supervisor=False, predict_say=False)
    guided = run_agent(data, BeamGenerator(_first_turn_beams(beams)),
                       settings=AgentSettings(**{**settings.__dict__, "execution_guided": True}))
    plain = run_agent(data, BeamGenerator(_first_turn_beams(beams)), settings=settings)
    first = {"guided": guided.predictions[0].turns[0].frames[0].state.slot_values,
             "plain": plain.predictions[0].turns[0].frames[0].state.slot_values}
    assert first == {"guided": {"cuisine": ("thai",), "city": ("san jose",)},
                     "plain": {"cuisine": ("thai",)}}
    assert [x.beam for x in guided.log][:2] == [2, 0]
    assert guided.stats["execution_guided_reranked"] == 1
    assert "execution_guided_reranked" not in plain.stats
    # no clean beam: the best one, as without the switch
    flawed = run_agent(data, BeamGenerator(_first_turn_beams(beams[:2])),
                       settings=AgentSettings(**{**settings.__dict__, "execution_guided": True}))
    assert flawed.log[0].beam == 0 and flawed.log[0].program == beams[0]


def test_grounded_values_pass_over_beams_that_write_values_nobody_said():
    data = fixture_split()  # first user turn: "I want Thai food in San Jose."
    find = "restaurants_9_find_restaurants"
    beams = [f'{find}(cuisine="thai", city="thai")',  # one value said once, in two slots
             f'{find}(cuisine="thai", city="boston")',  # a city nobody said
             f'{find}(cuisine="thai", city="san jose")']
    base = AgentSettings(parser_supervisor=False, predict_say=False, execution_guided=True)
    grounded = run_agent(data, BeamGenerator(_first_turn_beams(beams)),
                         settings=AgentSettings(**{**base.__dict__, "grounded_values": True}))
    ungrounded = run_agent(data, BeamGenerator(_first_turn_beams(beams)), settings=base)
    assert [grounded.log[0].beam, ungrounded.log[0].beam] == [2, 0]
    assert grounded.predictions[0].turns[0].frames[0].state.slot_values == {
        "cuisine": ("thai",), "city": ("san jose",)}


def test_execution_guided_decoding_needs_a_generator_with_beams():
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="system.agent.execution_guided"):
        run_agent(fixture_split(), ScriptedGenerator(lambda p: "pass"),
                  settings=AgentSettings(execution_guided=True))
