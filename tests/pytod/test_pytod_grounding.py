"""Who said a value: programs that write values nobody said, or one value into two slots,
are named; gold programs never are (fixture and real SGD)."""

from __future__ import annotations

import pytest
from pytod_helpers import first_file_split
from pytod_schema_fixture import dialogue, schema

from tod_lab.pytod.gold import build_gold
from tod_lab.pytod.grounding import unsaid_values
from tod_lab.pytod.interpreter import DialogueSession
from tod_lab.pytod.simulator import ApiCatalog, backend_for

FIND = "restaurants_9_find_restaurants"
RESERVE = "restaurants_9_reserve_restaurant"


def _session() -> DialogueSession:
    d = dialogue()
    session = DialogueSession(ApiCatalog.from_schema(schema()), d, backend_for(d, None))
    session.start_user_turn(0)  # "I want Thai food in San Jose."
    return session


def _problems(session: DialogueSession, program: str) -> list[str]:
    report = session.trial(program)
    assert not report.rejected and not report.feedback, (report.rejected, report.feedback)
    return unsaid_values(session, report.literals)


def test_values_said_by_the_user_this_turn_pass_and_others_are_named():
    s = _session()
    assert _problems(s, f'{FIND}(cuisine=" thai ", city="San Jose")') == []
    assert _problems(s, f'{FIND}(cuisine="italian")') == ["cuisine = 'italian': said by no one"]
    # a number counts as said in digits or words; categorical words are paraphrased, not checked
    assert _problems(s, f'{FIND}(party_size=4)') == ["party_size = '4': said by no one"]
    assert _problems(s, f'{FIND}(price_range="pricey")') == []
    assert _problems(s, f'{FIND}(cuisine="dontcare")') == []


def test_a_value_said_once_fills_one_slot():
    s = _session()
    assert _problems(s, f'{FIND}(cuisine="thai", city="thai")') == [
        "'thai' fills 2 slots but was said 1 time(s)"]


def test_earlier_values_may_start_a_new_task_but_not_change_an_existing_one():
    s = _session()
    s.execute(f'{FIND}(cuisine="thai", city="san jose")')
    s.run_policy()
    s.observe_system_turn(1)  # "How about Bangkok Bay? It is cheap."
    s.start_user_turn(2)  # "Sounds good, book it for 7 pm for two."
    # offered by the system, said as a word by the user, carried into a new task: all said
    assert _problems(
        s, f'{RESERVE}(restaurant_name="Bangkok Bay", time="7 pm", party_size=2, city="san jose")'
    ) == []
    # what the system just offered is select()'s to write; an assignment of it misreads
    assert _problems(s, 'select(restaurant_name="bangkok bay", from_results=x1)') == []
    assert _problems(s, 'x1.restaurant_name = "bangkok bay"') == [
        "restaurant_name = 'bangkok bay': the system's words just now"]
    # one offered name in two slots
    assert _problems(s, f'select(restaurant_name="bangkok bay", from_results=x1)\n'
                        f'{RESERVE}(time="bangkok bay")') == [
        "'bangkok bay' fills 2 slots but was said 1 time(s)"]
    # the same earlier value written again into the search the user is not talking about
    assert _problems(s, 'x1.city = "san jose"') == ["city = 'san jose': said by no one"]
    assert _problems(s, 'x1.cuisine = "7 pm"') == []  # said this turn (a wrong slot is not seen)


@pytest.mark.real_data
def test_gold_programs_of_real_sgd_dialogues_write_only_said_values(sgd_root):
    data = first_file_split(sgd_root, "dev")
    catalog = ApiCatalog.from_schema(data.schema)
    checked = 0
    for d in data.dialogues[:60]:
        gold = {t.turn: t for t in build_gold(d, catalog, backend_for(d, None)).turns}
        session = DialogueSession(catalog, d, backend_for(d, None))
        for index, turn in enumerate(d.turns):
            if not turn.is_user:
                session.observe_system_turn(index)
                continue
            session.start_user_turn(index)
            program = "\n".join(gold[index].user) if index in gold else ""
            report = session.execute(program, origin="gold")
            checked += len(report.literals)
            assert unsaid_values(session, report.literals) == [], (d.dialogue_id, index, program)
            session.run_policy()
            session.execute(gold[index].say if index in gold else "", origin="gold")
    assert checked > 100
