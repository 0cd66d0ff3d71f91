"""The end-to-end agent loop, driven by the gold-answering oracle generator."""

from __future__ import annotations

import json

import pytest
from spectod_oracle import OracleGenerator

from tod_lab.spectod.system import SpecTODSystem


def sgd_e2e(result, run_dir):
    """Action F1 / delex BLEU are metrics labelled with protocol spectod_sgd_e2e."""
    saved = json.loads((run_dir / "predictions" / "sgd_e2e_metrics.json").read_text())
    assert saved["protocol"] == "spectod_sgd_e2e"
    for name in ("action_f1", "bleu_delex"):
        assert result.protocols[name] == "spectod_sgd_e2e"
        assert result.metrics[name] == saved[name]
    return result.metrics


@pytest.fixture(scope="module")
def sgd_dev_sample(sgd_dev):
    split = sgd_dev
    return split.subset(split.dialogue_ids[::40])  # ~50 dialogues


def test_oracle_agent_on_real_sgd_scores_perfectly(sgd_dev_sample, tmp_path):
    system = SpecTODSystem(agent={"wave_size": 16})
    rows = system.build_rows(sgd_dev_sample, seed=None)  # first paraphrase = inference's
    oracle = OracleGenerator(rows)
    result = system.run(sgd_dev_sample, oracle, tmp_path)
    assert oracle.misses == 0 and oracle.calls > 0
    assert result.metrics["joint_goal_accuracy"] == 1.0
    assert result.metrics["active_intent_accuracy"] == 1.0
    e2e = sgd_e2e(result, tmp_path)
    assert e2e["action_f1"] == 1.0
    assert e2e["bleu_delex"] == pytest.approx(100.0)
    assert result.protocols["joint_goal_accuracy"] == "sgd_official"
    assert result.main_metric == "joint_goal_accuracy"
    stats = result.details["agent"]
    assert stats["calls"]["parse_failures"] == 0 and stats["unparsable_actions"] == 0
    assert (tmp_path / "predictions" / "sgd" / "dialogues_001.json").is_file()
    assert (tmp_path / "spectod_resources.json").is_file()


def test_a_generator_that_says_nothing_scores_low_but_runs(sgd_dev_sample, tmp_path):
    class Silent:
        def generate(self, prompts, **kwargs):
            return ["" for _ in prompts]

    system = SpecTODSystem()
    system.build_rows(sgd_dev_sample, seed=0)
    result = system.run(sgd_dev_sample, Silent(), tmp_path)
    assert result.metrics["joint_goal_accuracy"] < 0.5
    assert sgd_e2e(result, tmp_path)["action_f1"] == 0.0


def test_oracle_agent_on_multiwoz_fixture_is_scored_by_the_multiwoz_evaluator(
    multiwoz_root, shared_data, tmp_path
):
    from tod_lab.data.multiwoz import read_split

    split = read_split(multiwoz_root, "dev")
    system = SpecTODSystem(db_dir=str(shared_data / "multiwoz22" / "db"))
    oracle = OracleGenerator(system.build_rows(split, seed=None))
    result = system.run(split, oracle, tmp_path)
    assert oracle.misses == 0
    assert result.metrics["bleu"] == pytest.approx(100.0)
    assert result.metrics["jga_mwzeval"] == pytest.approx(100.0)  # percentages
    assert result.metrics["jga_spectod_fnctod"] == pytest.approx(100.0)
    assert result.protocols["bleu"] == "mwzeval"
    assert result.protocols["jga_spectod_fnctod"] == "spectod_fnctod"
    assert "goals.json" in result.details["inform_success"]  # the fixture has no goals
    predictions = json.loads((tmp_path / "predictions" / "mwz_predictions.json").read_text())
    first = predictions["pmul0001"][0]
    assert first["state"] == {"restaurant": {"pricerange": "cheap", "area": "centre", "food": "chinese"}}
    assert first["active_domains"] == ["restaurant"] and "[name]" in first["response"]


# the defaults, spectod_tiny's prompt settings, those with the domain history's calls, and
# spectod_tiny's earlier ones (argument lists in the prompt, calls in spec order)
TINY_PROMPT = {"spaced_values": True, "spec_detail": "functions", "argument_order": "state",
               "domain_history_turns": 1, "observation_names": True}


@pytest.mark.parametrize("prompt", [{}, TINY_PROMPT, {**TINY_PROMPT, "domain_history_calls": True},
                                    {**TINY_PROMPT, "spec_detail": "names", "argument_order": "spec"},
                                    {**TINY_PROMPT, "call_style": "delta"}],
                         ids=["defaults", "spectod_tiny", "domain_history_calls",
                              "argument_names_spec_order", "delta_calls"])
def test_oracle_agent_end_to_end_on_toy_multiwoz_inform_success_bleu(toy_multiwoz_source, tmp_path,
                                                                      prompt):
    """Every number of the MultiWOZ path at its ceiling: the agent loop, the DB observations,
    mwzeval-format predictions, Inform / Success / BLEU / Combined and both JGA flavours.

    The toy corpus is templated, so two dialogues can share a prompt with different gold
    answers; the oracle therefore answers one dialogue at a time.
    """
    from tod_lab.spectod.agent import SpecTODAgent
    from tod_lab.spectod.scoring import score_multiwoz

    dev = toy_multiwoz_source.read("dev")
    sample = dev.subset(dev.dialogue_ids[:12])
    system = SpecTODSystem(**prompt)
    rows = system.build_rows(sample, seed=None)
    agent = SpecTODAgent(system.catalog, system.inventory, system.database(sample), system.prompt)
    predicted = {}
    for dialogue in sample:
        own = {task: [r for r in items if r["dialogue_id"].split("#")[0] == dialogue.dialogue_id]
               for task, items in rows.items()}
        oracle = OracleGenerator(own)
        predicted.update(agent.run([dialogue], oracle))
        assert oracle.misses == 0, dialogue.dialogue_id
    result = score_multiwoz(sample, predicted, tmp_path, system.catalog)
    metrics = result.metrics
    assert metrics["inform"] == 100.0 and metrics["success"] == 100.0
    assert metrics["bleu"] == pytest.approx(100.0)
    assert metrics["combined"] == pytest.approx(200.0)
    assert metrics["jga_mwzeval"] == pytest.approx(100.0)
    assert metrics["jga_spectod_fnctod"] == pytest.approx(100.0)
    assert result.protocols["combined"] == "mwzeval" and result.main_metric == "combined"


class WrongDomains(OracleGenerator):
    """The oracle, except that the domain predictor names another function than the gold
    one (a turn that needs none still gets none)."""

    def __init__(self, rows, functions):
        super().__init__(rows)
        self.functions = functions
        self.strict_prefixes = False

    def generate(self, prompts, **kwargs):
        answers = super().generate(prompts, **kwargs)
        for i, answer in enumerate(answers):
            if answer in self.functions:  # a bare function name: a domain prediction
                answers[i] = self.functions[(self.functions.index(answer) + 1) % len(self.functions)]
        return answers


@pytest.mark.parametrize("function_choice", ["domain", "call"])
def test_function_choice_call_lets_the_e2e_model_overrule_the_domain_predictor(
    toy_multiwoz_source, tmp_path, function_choice
):
    """With ``function_choice: call`` the function of a turn's call is the one whose call
    prefix the e2e model finds likeliest after the conversation: an oracle e2e model then
    repairs every wrong domain prediction, and JGA stays at its ceiling."""
    from tod_lab.spectod.agent import AgentSettings, SpecTODAgent
    from tod_lab.spectod.scoring import score_multiwoz

    dev = toy_multiwoz_source.read("dev")
    sample = dev.subset(dev.dialogue_ids[:6])
    system = SpecTODSystem(**TINY_PROMPT)
    rows = system.build_rows(sample, seed=None)
    names = [spec.name for spec in system.catalog]
    agent = SpecTODAgent(system.catalog, system.inventory, system.database(sample), system.prompt,
                         AgentSettings(function_choice=function_choice))
    predicted = {}
    for dialogue in sample:
        own = {task: [r for r in items if r["dialogue_id"].split("#")[0] == dialogue.dialogue_id]
               for task, items in rows.items()}
        generator = WrongDomains(own, names)
        predicted.update(agent.run([dialogue], generator))
        if function_choice == "call":
            assert generator.misses == 0, dialogue.dialogue_id
    jga = score_multiwoz(sample, predicted, tmp_path, system.catalog).metrics["jga_mwzeval"]
    changed = agent.stats.function_choice_changes
    if function_choice == "call":
        assert jga == pytest.approx(100.0) and changed > 20
    else:
        assert jga < 50.0 and changed == 0


def test_function_choice_must_be_known():
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="system.agent.function_choice"):
        SpecTODSystem(agent={"function_choice": "llm"})


def test_forced_prefixes_end_on_a_token_boundary_of_the_training_text(multiwoz_root, shared_data):
    """A byte-level BPE merges a space with the next character (`` {``); a forced prefix that
    ended in a space would put the model at a token boundary it never saw in training."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from tod_lab.data.multiwoz import read_split
    from tod_lab.spectod.prompts import RESPONSE_PREFIX, call_prefix

    system = SpecTODSystem(db_dir=str(shared_data / "multiwoz22" / "db"))
    rows = system.build_rows(read_split(multiwoz_root, "train"), seed=0)
    texts = [m["content"] for r in rows["e2e"] for m in r["messages"]] * 20
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, show_progress=False))
    targets = [m["content"] for r in rows["e2e"] for m in r["messages"] if m["loss"]]
    for target in targets:
        prefix = call_prefix(json.loads(target[15:-16])["function"]) if target.startswith(
            "<function_call>") else RESPONSE_PREFIX
        assert target.startswith(prefix)
        whole = tokenizer.encode(target).ids
        head = tokenizer.encode(prefix).ids
        assert whole[: len(head)] == head, (prefix, target)
        # the old prefixes (trailing space) would not be
        assert tokenizer.encode(prefix + " ").ids != whole[: len(head) + 1]


@pytest.mark.parametrize(("observation_names", "call_style"),
                         [(True, "cumulative"), (False, "cumulative"), (True, "delta")])
def test_constrained_calls_allow_every_gold_call_of_the_toy_corpus(toy_multiwoz_source,
                                                                   observation_names, call_style):
    """With the first match named in the observations, the DST constraint never blocks a
    gold call: each one, and each of its prefixes, is allowed where the agent asks for it
    (the oracle answers the agent's own prompts). Without them, the venue the system
    offered appears nowhere in the (delexicalised) conversation, so gold calls that carry
    it cannot be copied from anywhere."""
    from tod_lab.spectod.agent import AgentSettings, SpecTODAgent

    dev = toy_multiwoz_source.read("dev")
    sample = dev.subset(dev.dialogue_ids[:8])
    system = SpecTODSystem(observation_names=observation_names, call_style=call_style)
    rows = system.build_rows(sample, seed=None)
    agent = SpecTODAgent(system.catalog, system.inventory, system.database(sample), system.prompt,
                         AgentSettings(constrained_calls=True))
    checked, rejected = 0, []
    for dialogue in sample:
        own = {task: [r for r in items if r["dialogue_id"].split("#")[0] == dialogue.dialogue_id]
               for task, items in rows.items()}
        oracle = OracleGenerator(own)
        agent.run([dialogue], oracle)
        assert oracle.misses == 0, dialogue.dialogue_id
        checked += oracle.constrained
        rejected += oracle.rejected
    assert checked >= 20
    if observation_names:
        assert rejected == []
    else:
        assert rejected and all('"name": ' in call for call in rejected)


def test_call_constraint_refuses_unsaid_values_bad_enums_and_unknown_arguments(toy_multiwoz_source):
    from tod_lab.spectod.constrained import CallArgumentsConstraint

    system = SpecTODSystem()
    system.build_rows(toy_multiwoz_source.read("dev").subset(["MUL01005.json"]), seed=None)
    spec = system.catalog.get("find_book_restaurant")
    c = CallArgumentsConstraint(spec, "user: find me an expensive indian restaurant in the north.")
    assert c.complete(' {"pricerange": "expensive", "food": "indian"}}</function_call>')
    assert c.complete(' {"food": "indian", "area": "north"}}') and c.complete(" {}}")
    assert c.viable(' {"food": "ind') and c.viable(' {"pricerange": "exp')
    assert c.complete(' {"food": "dontcare"}}')
    assert not c.viable(' {"food": "italian')          # nobody said italian
    assert not c.viable(' {"pricerange": "pricey')      # not in the enum
    assert not c.viable(' {"stars": "4"')                # not an argument of this function
    assert not c.viable(' {"food": "indian"} extra')     # nothing but the closing brace
    assert not c.complete(' {"food": "indian"')          # unfinished
    assert not c.viable(' {"food": "indian", "food": "')  # an argument twice
    assert c.viable(' {"food": "indian", "foo')           # a key being written
    # values compare stripped, so padding must be refused where it is written
    assert not c.viable(' {"food": " indian  ')           # a run of spaces
    assert not c.viable(' {"pricerange": " cheap \x1f')  # a separator (str.strip() eats it)
    assert not c.viable(' {"food": " ind\nian')
    assert c.complete(' {"food": " indian ", "pricerange": " expensive "}}')
    # a trailing space ends the word: only a whole value (or enum value) may be followed by it
    assert not c.viable(' {"food": " ind ') and c.viable(' {"food": " indian ')
    assert not c.viable(' {"pricerange": " ex ') and c.viable(' {"pricerange": " ex')
