"""The runtime: statements change the state as PyTOD defines, the schema bounds every name,
values are validated, annotated results drive searches and transactions."""

from __future__ import annotations

from pytod_schema_fixture import dialogue, schema

from tod_lab.pytod.interpreter import DialogueSession
from tod_lab.pytod.simulator import ApiCatalog, backend_for
from tod_lab.pytod.supervisors import FuzzyRepairer

FIND = "restaurants_9_find_restaurants"
RESERVE = "restaurants_9_reserve_restaurant"


def session_at(turn: int, repairer=None) -> DialogueSession:
    d = dialogue()
    s = DialogueSession(ApiCatalog.from_schema(schema()), d, backend_for(d, None),
                        repairer=repairer)
    for index in range(turn):
        if not d.turns[index].is_user:
            s.observe_system_turn(index)
    s.start_user_turn(turn)
    return s


def values(s: DialogueSession) -> dict[str, list[str]]:
    return {k: list(v) for k, v in s.state("Restaurants_9").slot_values.items()}


def test_tool_call_creates_a_task_and_sets_intent_and_values():
    s = session_at(0)
    report = s.execute(f'x1 = {FIND}(cuisine="thai", city="san jose")')
    assert report.ok
    state = s.state("Restaurants_9")
    assert state.active_intent == "FindRestaurants"
    assert values(s) == {"cuisine": ["thai"], "city": ["san jose"]}


def test_positional_arguments_follow_required_slots():
    s = session_at(0)
    assert s.execute(f'x1 = {FIND}("san jose", "thai")').ok
    assert values(s) == {"city": ["san jose"], "cuisine": ["thai"]}
    report = s.execute(f'x2 = {FIND}("a", "b", "c", "d", "e")')
    assert report.rejected and "positional" in report.rejected[0].feedback


def test_categorical_values_are_validated_and_case_restored():
    s = session_at(0)
    report = s.execute(
        f'x1 = {RESERVE}(party_size="two", outdoor="yes", restaurant_name="lotus")'
    )
    assert report.ok, report
    s.execute('x2: x1.price_range = "pricey"')
    assert values(s)["party_size"] == ["2"]
    assert values(s)["outdoor"] == ["True"]
    assert values(s)["price_range"] == ["Pricey"]
    s.execute("x3: x1.party_size = 3; x1.outdoor = False")
    assert values(s)["party_size"] == ["3"] and values(s)["outdoor"] == ["False"]
    report = s.execute("x4: x1.party_size = 9")
    assert report.rejected and "not a valid value of 'party_size'" in report.rejected[0].feedback
    assert values(s)["party_size"] == ["3"]  # unchanged
    s.execute('x5: x1.price_range = "dontcare"')
    assert values(s)["price_range"] == ["dontcare"]


def test_invalid_argument_is_dropped_with_feedback_and_the_call_kept():
    s = session_at(0)
    report = s.execute(f'x1 = {FIND}(cuisine="thai", food_type="x", party_size=17)')
    assert report.accepted and len(report.feedback) == 2
    assert "'food_type' is not a slot" in report.feedback[0]
    assert values(s) == {"cuisine": ["thai"]}


def test_names_outside_the_schema_are_never_touched():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="thai")')
    for source, expected in [
        ('x2: x1.api = "x"', "not a slot"),
        ('x2: x1.values = "x"', "not a slot"),
        ("x2 = say(x1.bindings)", "not a property"),
        ('x2 = unknown_tool(a="b")', "is not a tool"),
        ('x2: x9.city = "x"', "'x9' is not defined"),
        ("x2 = confirm(x7)", "is not a task"),
    ]:
        report = s.execute(source)
        text = " ".join(r.feedback for r in report.rejected) + " ".join(report.feedback)
        assert expected in text, (source, text)
    assert values(s) == {"cuisine": ["thai"]}


def test_hint_variables_have_no_attributes_and_objects_are_not_values():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="thai")\nx2 = hint("request value: city")')
    report = s.execute('x3: x1.city = x2.city')
    assert report.rejected and "only objects returned by tools have attributes" in (
        report.rejected[0].feedback)
    report = s.execute("x3: x1.city = x1")
    assert report.rejected and "is an object, not a value" in report.rejected[0].feedback


def test_none_clears_a_slot():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="thai", city="sj")')
    s.execute("x2: x1.city = None")
    assert values(s) == {"cuisine": ["thai"]}


def test_values_copied_from_another_object():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="thai", city="san jose")')
    s.execute(f"x2 = {RESERVE}(city=x1.city)")
    assert s.state("Restaurants_9").active_intent == "ReserveRestaurant"
    assert values(s)["city"] == ["san jose"]


def test_search_runs_when_required_args_are_filled_and_replays_annotated_results():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="thai")')
    policy = s.run_policy()
    assert list(policy.hints.values()) == ["request value: city"]
    s.execute('x3: x1.city = "san jose"')
    policy = s.run_policy()
    texts = [line.text for line in policy.lines]
    assert texts[0] == "x4 = next(x1)"
    assert texts[1].startswith("Call to restaurants_9_find_restaurants (x1) returned 2 results")
    report = s.execute("x5 = say(x4, x1.phone_number)")
    assert report.ok
    assert s.state("Restaurants_9").requested_slots == ("phone_number",)
    assert s._read_attribute(s.bindings["x4"], "restaurant_name") == "Bangkok Bay"


def test_select_takes_the_offered_entity_and_confirm_performs_the_transaction():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="Thai", city="San Jose")')
    s.run_policy()
    s.observe_system_turn(1)  # OFFER Bangkok Bay, Cheap
    s.start_user_turn(2)
    report = s.execute(
        'x3 = select(restaurant_name="bangkok bay", from_results=x1)\n'
        f'x4 = {RESERVE}(time="7 pm", party_size="two")'
    )
    assert report.ok, report
    assert values(s)["restaurant_name"] == ["bangkok bay"]
    assert values(s)["price_range"] == ["Cheap"]  # offered with it
    policy = s.run_policy()
    assert all(t.startswith("ask the user to confirm") for t in policy.hints.values())
    s.observe_system_turn(3)  # CONFIRM ...
    s.start_user_turn(4)
    assert s.execute("x12 = confirm(x4)").ok
    assert values(s)["restaurant_name"] == ["bangkok bay", "Bangkok Bay"]  # system's form too
    policy = s.run_policy()
    texts = [line.text for line in policy.lines]
    assert texts[0] == "x13 = perform(x4)"
    assert texts[1] == "Call to restaurants_9_reserve_restaurant (x4) succeeded"
    assert s._read_attribute(s.bindings["x13"], "phone_number") == "408-111"


def test_transaction_fails_when_the_annotated_call_returned_nothing():
    import dataclasses

    d = dialogue()
    turns = list(d.turns)
    frame = turns[5].frames[0]
    turns[5] = dataclasses.replace(
        turns[5], frames=(dataclasses.replace(frame, service_results=()),)
    )
    d = dataclasses.replace(d, turns=tuple(turns))
    s = DialogueSession(ApiCatalog.from_schema(schema()), d, backend_for(d, None))
    s.start_user_turn(4)
    s.execute(f'x1 = {RESERVE}(restaurant_name="a", city="b", time="c")\nx2 = confirm(x1)')
    texts = [line.text for line in s.run_policy().lines]
    assert "There was an error while completing the task" in texts


def test_suspend_and_resume_change_the_active_intent():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="thai")\nx2 = {RESERVE}(time="7")')
    assert s.state("Restaurants_9").active_intent == "ReserveRestaurant"
    s.execute("x3 = resume(x1)")
    assert s.state("Restaurants_9").active_intent == "FindRestaurants"
    s.execute("x4 = suspend()")
    assert s.state("Restaurants_9").active_intent == "NONE"
    assert values(s) == {"cuisine": ["thai"], "time": ["7"]}  # values stay


def test_model_variable_names_are_kept_when_fresh_and_renamed_when_taken():
    s = session_at(0)
    report = s.execute(f'x7 = {FIND}(cuisine="thai")\nx7 = {RESERVE}(city=x7.cuisine)')
    assert report.ok
    assert [str(st.target) for st in report.accepted] == ["x7", "x8"]
    assert s.next_index == 9


def test_fuzzy_repair_thresholds():
    s = session_at(0, repairer=FuzzyRepairer())
    report = s.execute('x1 = restaurants_9_find_restaurant(cusine="thai", citty="sj")')
    assert report.accepted and not report.rejected
    assert "tool restaurants_9_find_restaurant -> restaurants_9_find_restaurants" in report.repairs
    assert values(s) == {"cuisine": ["thai"], "city": ["sj"]}
    # far from every name: not repaired
    report = s.execute('x2: x1.location_of_the_venue = "sj"')
    assert report.rejected
    # within the service (0.9) but not an argument of FindRestaurants
    report = s.execute('x3: x1.phone_numbr = "1"')
    assert "slot phone_numbr -> phone_number" in report.repairs


def test_statement_and_object_limits():
    s = session_at(0)
    s.max_objects = 3
    report = s.execute("\n".join(f"x{i} = {FIND}()" for i in range(1, 6)))
    assert len(report.accepted) == 3 and len(report.rejected) == 2
    assert "too many task objects" in report.rejected[0].feedback


def test_assignments_that_change_nothing_are_reported_as_unchanged():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="Thai", city="San Jose")')
    s.run_policy()
    s.observe_system_turn(1)
    s.start_user_turn(2)
    s.execute(f'x4 = {RESERVE}(restaurant_name="bangkok bay", time="seven pm", party_size=2)')
    s.run_policy()
    s.observe_system_turn(3)  # CONFIRM Bangkok Bay, 7 pm, 2
    s.start_user_turn(4)
    # the value it holds (any case), and the system's own words for it in the confirmation
    same = s.execute('x1.city = "san jose"; x4.time = "7 pm"; x4.party_size = "two"')
    assert same.ok and same.unchanged == [
        "x1.city already holds 'san jose'", "x4.time already holds '7 pm'",
        "x4.party_size already holds '2'"]
    # a new value, and a slot the task did not hold yet (even one the system confirmed)
    changed = s.execute('x4.time = "8 pm"; x1.price_range = "cheap"')
    assert changed.ok and changed.unchanged == []
    assert values(s)["time"] == ["8 pm"]


def test_trial_reports_like_execute_and_leaves_the_session_as_it_was():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="Thai")')
    before = (s.states(), len(s.lines), s.next_index, repr(s.bindings))
    program = 'x1.city = "san jose"\nx1.nope = "1"\nx1.cuisine = "thai"'
    trial = s.trial(program)
    assert (s.states(), len(s.lines), s.next_index, repr(s.bindings)) == before
    real = s.execute(program)
    assert [str(r) for r in trial.rejected] == [str(r) for r in real.rejected]
    assert (trial.feedback, trial.unchanged) == (real.feedback, real.unchanged)
    assert trial.rejected and trial.unchanged == ["x1.cuisine already holds 'thai'"]
    assert values(s)["city"] == ["san jose"]


def _reconfirmed_dialogue():
    from pytod_schema_fixture import _act, _state, _system, _user

    from tod_lab.data.types import Dialogue

    asked = {"restaurant_name": ["Lotus"], "city": ["San Jose"]}
    return Dialogue.from_json({"dialogue_id": "9_00003", "services": ["Restaurants_9"], "turns": [
        _user("Book a table at Lotus in San Jose at 7 pm.",
              [_act("INFORM", "restaurant_name", ["Lotus"]), _act("INFORM", "city", ["San Jose"]),
               _act("INFORM", "time", ["7 pm"]), _act("INFORM_INTENT", "intent",
                                                      ["ReserveRestaurant"])],
              _state("ReserveRestaurant", {**asked, "time": ["7 pm"]})),
        _system("Please confirm: Lotus in San Jose at 7 pm, for 2 people.",
                [_act("CONFIRM", "restaurant_name", ["Lotus"]),
                 _act("CONFIRM", "city", ["San Jose"]), _act("CONFIRM", "time", ["7 pm"]),
                 _act("CONFIRM", "party_size", ["2"])]),
        _user("No, make it 8 pm.", [_act("NEGATE"), _act("INFORM", "time", ["8 pm"])],
              _state("ReserveRestaurant", {**asked, "time": ["8 pm"]})),
        _system("The time is 8 pm. Is that right?", [_act("CONFIRM", "time", ["8 pm"])]),
        # the default of the first confirmation joins the state now (as in SGD)
        _user("Yes.", [_act("AFFIRM")],
              _state("ReserveRestaurant", {**asked, "time": ["8 pm"], "party_size": ["2"]})),
        _system("Done.", [_act("NOTIFY_SUCCESS")]),
    ]})


def test_confirm_takes_the_defaults_of_the_confirmations_before_a_correction():
    from tod_lab.pytod.gold import build_gold, replay

    d = _reconfirmed_dialogue()
    catalog = ApiCatalog.from_schema(schema())
    s = DialogueSession(catalog, d, backend_for(d, None))
    s.start_user_turn(0)
    s.execute(f'{RESERVE}(restaurant_name="Lotus", city="San Jose", time="7 pm")')
    s.observe_system_turn(1)
    s.start_user_turn(2)
    s.execute('x1.time = "8 pm"')
    s.observe_system_turn(3)
    s.start_user_turn(4)
    # the system re-confirmed only the time; the first confirmation's party size is pending
    assert s.confirm_effect("Restaurants_9") == {"time": ["8 pm"], "party_size": ["2"]}
    assert s.execute("confirm(x1)").ok
    assert values(s)["party_size"] == ["2"] and values(s)["time"] == ["8 pm"]
    # gold programs need no assignment after the confirm, and replay to the reference states
    gold = build_gold(d, catalog, backend_for(d, None))
    (last,) = [t.user for t in gold.turns if t.turn == 4]
    assert len(last) == 1 and last[0].endswith(" = confirm(x1)"), last
    turns = replay(d, [(t.turn, "\n".join(t.user), t.say) for t in gold.turns], catalog,
                   backend_for(d, None))
    for replayed in turns:
        want = d.turns[replayed.turn].frames[0].state.slot_values
        got = replayed.states["Restaurants_9"].slot_values
        assert {k: v[0].lower() for k, v in got.items()} == {
            k: v[0].lower() for k, v in want.items()}, replayed.turn


def test_select_fills_offered_transaction_arguments_the_state_does_not_hold():
    service = ApiCatalog.from_schema(schema()).services["Restaurants_9"]
    # outdoor only narrows the search; an accepted offer does not put it into the state
    assert service.selectable_slots == {"restaurant_name", "city", "time", "party_size",
                                        "price_range"}
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="Thai", city="San Jose", price_range="dontcare")')
    s.run_policy()
    s.observe_system_turn(1)  # OFFER Bangkok Bay, Cheap
    s.start_user_turn(2)
    assert s.execute('select(restaurant_name="bangkok bay", from_results=x1)').ok
    # "any price range", then an offer that is cheap: the user's dontcare stays (as in SGD)
    assert values(s)["price_range"] == ["dontcare"]
    assert values(s)["restaurant_name"] == ["bangkok bay"]


def test_select_takes_the_offered_form_of_a_name_given_in_part():
    s = session_at(0)
    s.execute(f'x1 = {FIND}(cuisine="Thai", city="San Jose")')
    s.run_policy()
    s.observe_system_turn(1)  # OFFER Bangkok Bay
    s.start_user_turn(2)
    report = s.execute('select(restaurant_name=" bangkok ", from_results=x1)')
    assert report.ok and values(s)["restaurant_name"] == ["Bangkok Bay"]
    assert report.repairs == ["value 'bangkok' -> 'Bangkok Bay' for restaurant_name (offered)"]


def test_confirm_replaces_a_dontcare_with_the_value_read_back():
    d = _reconfirmed_dialogue()
    s = DialogueSession(ApiCatalog.from_schema(schema()), d, backend_for(d, None))
    s.start_user_turn(0)
    s.execute(f'{RESERVE}(restaurant_name="Lotus", city="San Jose", time="7 pm", '
              'party_size="dontcare")')
    s.observe_system_turn(1)  # CONFIRM ... party_size 2
    s.start_user_turn(2)
    assert s.execute("confirm(x1)").ok
    assert values(s)["party_size"] == ["2"]
    assert values(s)["restaurant_name"] == ["Lotus"]  # the same words are not repeated
