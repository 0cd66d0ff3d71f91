"""Typed descriptions of toy services: schema facts plus the language to talk about them.

A :class:`ServiceSpec` holds everything the SGD ``schema.json`` needs (slots, intents,
descriptions) and the templates the dialogue simulator realises acts with. Templates use
``{v}`` for "this slot's value" (per-slot templates) or ``{slot_name}`` (intent-level
templates); :mod:`tod_lab.data.toy.rendering` fills them and records spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CATEGORICAL_KINDS = frozenset({"number", "enum", "bool"})


@dataclass(frozen=True)
class SlotSpec:
    name: str
    description: str
    kind: str  # city | time | date | text | money | number | enum | bool
    values: tuple[str, ...] = ()  # possible values of a categorical slot
    label: str = ""  # how people name the slot ("price range")
    ask: tuple[str, ...] = ()  # system REQUEST questions
    tell: tuple[str, ...] = ()  # user INFORM clauses, "{v}" = the value
    short: tuple[str, ...] = ()  # user INFORM when answering a question about this slot
    say: tuple[str, ...] = ()  # system INFORM / CONFIRM statements with "{v}"
    ask_np: tuple[str, ...] = ()  # user REQUEST noun phrases ("the phone number")
    ask_q: tuple[str, ...] = ()  # user REQUEST full questions ("Do they have wifi?")
    tell_by_value: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # booleans
    say_by_value: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dontcare: tuple[str, ...] = ()  # user "any value is fine" clauses
    display: Mapping[str, str] = field(default_factory=dict)  # categorical value -> words

    @property
    def is_categorical(self) -> bool:
        return self.kind in CATEGORICAL_KINDS

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "is_categorical": self.is_categorical,
            "possible_values": list(self.values) if self.is_categorical else [],
        }


@dataclass(frozen=True)
class IntentSpec:
    name: str
    description: str
    transactional: bool
    required: tuple[str, ...]
    optional: Mapping[str, str]  # slot -> default ("dontcare" or a canonical value)
    result_slots: tuple[str, ...]
    user: tuple[str, ...]  # INFORM_INTENT phrasings; may embed {slot} placeholders
    offer: tuple[str, ...] = ()  # search: OFFER templates over result slots
    count_noun: str = "options"  # "I found 4 {count_noun}"
    offer_intent: tuple[str, ...] = ()  # transactional: OFFER_INTENT questions
    confirm: tuple[str, ...] = ()  # transactional: CONFIRM of every argument
    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    after_select: tuple[str, ...] = ()  # user phrasings of "book it" after an offer

    @property
    def arguments(self) -> tuple[str, ...]:
        return self.required + tuple(self.optional)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "is_transactional": self.transactional,
            "required_slots": list(self.required),
            "optional_slots": dict(self.optional),
            "result_slots": list(self.result_slots),
        }


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str
    slots: tuple[SlotSpec, ...]
    search: IntentSpec
    transaction: IntentSpec | None = None
    # which result row of the venue world an offer identifies ("restaurant_name")
    entity_slot: str = ""
    # result slots offered with the entity, besides the ones in the offer template
    follow_up_slots: tuple[str, ...] = ()  # what users ask about after an offer

    @property
    def intents(self) -> tuple[IntentSpec, ...]:
        return (self.search,) + ((self.transaction,) if self.transaction else ())

    def slot(self, name: str) -> SlotSpec:
        for s in self.slots:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no slot {name!r}")

    def to_json(self) -> dict[str, Any]:
        # transactional intent first, as SGD orders them (ReserveRestaurant, FindRestaurants)
        intents = sorted(self.intents, key=lambda i: not i.transactional)
        return {
            "service_name": self.name,
            "description": self.description,
            "slots": [s.to_json() for s in self.slots],
            "intents": [i.to_json() for i in intents],
        }


# ----------------------------------------------------------------------------- shared phrasing

SYSTEM_REQ_MORE = (
    "Is there anything else I can help you with?",
    "Can I help you with anything else?",
    "Do you need help with anything else?",
    "Anything else I can do for you?",
)
SYSTEM_GOODBYE = (
    "Have a great day!",
    "Goodbye, have a nice day.",
    "You're welcome. Enjoy your day!",
    "Bye, take care.",
)
SYSTEM_COUNT = ("I found {count} {noun}.", "There are {count} {noun} that match.",
                "I have {count} {noun} for you.")  # fmt: skip
SYSTEM_CONFIRM_PREFIX = ("Please confirm the following details:", "Let me make sure I have this right:",
                         "Just to confirm:")  # fmt: skip
SYSTEM_CONFIRM_SUFFIX = ("Is that correct?", "Is that right?", "Shall I go ahead?")
SYSTEM_FAILURE = (
    "Sorry, that did not go through.",
    "I'm sorry, I was not able to complete that.",
    "Unfortunately that failed.",
)
USER_AFFIRM = ("Yes, that's right.", "Yes please.", "That's correct.", "Sounds good.", "Yes.")
USER_NEGATE_PREFIX = ("No,", "Not quite,", "No, sorry,")
USER_CORRECTION = (
    "actually make it {v}.",
    "change it to {v}.",
    "I meant {v}.",
    "can you make it {v} instead?",
)
USER_THANKS = ("Thank you.", "Thanks a lot.", "Great, thanks!", "Thank you so much.")
USER_DONE = (
    "No, that's all. Thanks!",
    "No thanks, that's everything.",
    "Nope, that will be all. Thank you.",
    "No, thank you very much.",
)
USER_BYE = ("Thanks, that's all I needed. Bye!", "Perfect, thank you. Goodbye.")
USER_SELECT = ("That sounds good.", "That works for me.", "Great, I like that one.", "Perfect.")
USER_ALTS = (
    "Can you find something else?",
    "Are there any other options?",
    "What else do you have?",
    "Anything else?",
)
USER_REQUEST_FRAMES = (
    "What is {np}?",
    "Can you tell me {np}?",
    "Could I get {np}?",
    "I'd like to know {np}.",
)
USER_NEGATE_INTENT = ("No, not right now.", "No, I don't want to do that yet.", "Not now, thanks.")
USER_AFFIRM_INTENT = ("Yes, please do.", "Yes, let's do that.", "Sure, go ahead.")
GENERIC_DONTCARE = (
    "The {label} doesn't matter.",
    "I don't have a preference for the {label}.",
    "Any {label} is fine.",
)
SYSTEM_ACK = ("Okay.", "Sure.", "No problem.", "Alright.")


# ----------------------------------------------------------------------------- slot helpers


def city_slot(name: str, description: str, *, where: str, ask: tuple[str, ...]) -> SlotSpec:
    """A city-valued slot; ``where`` is the noun it locates ("the restaurant")."""
    return SlotSpec(
        name,
        description,
        "city",
        label="city",
        ask=ask,
        tell=(f"I'd like {where} to be in {{v}}.", "It should be in {v}.", "Somewhere in {v}.",
              "I'm looking in {v}."),
        short=("{v}.", "In {v}.", "{v}, please.", "Let's say {v}."),
        say=(f"{where.capitalize()} is in {{v}}.", "It is located in {v}."),
        ask_np=("the city",),
    )  # fmt: skip


def date_slot(name: str, description: str, *, what: str, ask: tuple[str, ...]) -> SlotSpec:
    return SlotSpec(
        name,
        description,
        "date",
        label="date",
        ask=ask,
        tell=(f"I want {what} on {{v}}.", "Make it for {v}.", "It's for {v}."),
        short=("{v}.", "On {v}.", "{v}, please.", "For {v}."),
        say=("The date is {v}.", "It is on {v}."),
        ask_np=("the date",),
    )


def time_slot(name: str, description: str, *, what: str, ask: tuple[str, ...]) -> SlotSpec:
    return SlotSpec(
        name,
        description,
        "time",
        label="time",
        ask=ask,
        tell=(f"I want {what} at {{v}}.", "Make it at {v}.", "Around {v} would be great."),
        short=("{v}.", "At {v}.", "{v}, please.", "Let's do {v}."),
        say=("The time is {v}.", "It is at {v}."),
        ask_np=("the time",),
    )


def count_slot(name: str, description: str, values: tuple[str, ...], *, unit: str,
               ask: tuple[str, ...], label: str, tell: tuple[str, ...] = ()) -> SlotSpec:  # fmt: skip
    """A categorical count ("party_size"); users say "for {v} people"."""
    return SlotSpec(
        name,
        description,
        "number",
        values=values,
        label=label,
        ask=ask,
        tell=tell or (f"It's for {{v}} {unit}.", f"Make it {{v}} {unit}."),
        short=(f"{{v}} {unit}.", f"For {{v}} {unit}.", "{v}."),
        say=(f"It is for {{v}} {unit}.", f"The {label} is {{v}}."),
        ask_np=(f"the {label}",),
    )


def bool_slot(name: str, description: str, *, label: str, yes: tuple[str, ...],
              no: tuple[str, ...], say_yes: tuple[str, ...], say_no: tuple[str, ...],
              ask_q: tuple[str, ...], dontcare: tuple[str, ...]) -> SlotSpec:  # fmt: skip
    return SlotSpec(
        name,
        description,
        "bool",
        values=("True", "False"),
        label=label,
        ask=(f"Do you need {label}?",),
        tell_by_value={"True": yes, "False": no},
        say_by_value={"True": say_yes, "False": say_no},
        ask_q=ask_q,
        dontcare=dontcare,
    )


def text_slot(name: str, description: str, *, np: str, say: tuple[str, ...],
              kind: str = "text", label: str = "") -> SlotSpec:  # fmt: skip
    """A result-only slot (address, phone number, ...): users ask for it, systems say it."""
    return SlotSpec(
        name,
        description,
        kind,
        label=label or np.removeprefix("the ").removeprefix("their "),
        ask_np=(np,),
        say=say,
    )


def phone_slot(name: str, description: str) -> SlotSpec:
    return text_slot(name, description, np="the phone number",
                     say=("Their phone number is {v}.", "You can call them at {v}."))  # fmt: skip


def address_slot(name: str, description: str) -> SlotSpec:
    return text_slot(name, description, np="the address",
                     say=("The address is {v}.", "It is located at {v}."))  # fmt: skip
