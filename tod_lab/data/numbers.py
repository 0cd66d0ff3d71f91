"""Number words: one table for the toy corpus, value augmentation, perturbations and the
PyTOD simulator's categorical normalisation (which may import the data package, never the
reverse)."""

from __future__ import annotations

# index = the number each word names
CARDINAL_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip

# every phrase the simulator reads as a number (users say "a couple of" tickets)
NUMBER_WORDS: dict[str, int] = {word: n for n, word in enumerate(CARDINAL_WORDS)} | {
    "a": 1, "an": 1, "single": 1, "a single": 1, "a couple": 2, "couple": 2, "a couple of": 2,
}  # fmt: skip
