"""Tokenisation (loss masks, truncation, caching), mixing, length grouping, resumable batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

import tod_lab.models.datamodule as dm
from tod_lab.errors import ConfigError
from tod_lab.models.datamodule import (
    IGNORE_INDEX,
    DataSettings,
    ExampleDataModule,
    ExampleTokenizer,
    LengthGroupedBatchSampler,
    PaddingCollator,
    TaskRange,
    TokenizeSettings,
    padding_efficiency,
    render_chat,
    tokenize_examples,
)
from tod_lab.models.tokenizers import TokenizerSpec, train_tokenizer

CONVERSATION = [
    {"role": "system", "content": "Track the state.", "loss": False},
    {"role": "user", "content": "a table for 2 in oakland", "loss": False},
    {"role": "function", "content": '<function_call>{"people": 2}</function_call>', "loss": True},
    {"role": "observation", "content": "There are 3 entities match", "loss": False},
    {"role": "assistant", "content": "Action: inform", "loss": True},
]


@pytest.fixture(scope="module")
def chat_tokenizer(tmp_path_factory):
    texts = [m["content"] for m in CONVERSATION] * 30
    spec = TokenizerSpec(algorithm="bpe", vocab_size=400, chat=True,
                         added_tokens=("<function_call>", "</function_call>"))
    return train_tokenizer(texts, spec, tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def seq2seq_tokenizer(tmp_path_factory, booking_rows):
    texts = [t for r in booking_rows for t in (r["source"], r["target"])]
    return train_tokenizer(texts, TokenizerSpec(algorithm="unigram", vocab_size=400,
                                                added_tokens=("<new>",)),
                           tmp_path_factory.mktemp("tok"))


def test_causal_loss_covers_exactly_the_loss_messages(chat_tokenizer):
    rendered = render_chat(chat_tokenizer, CONVERSATION)
    out = ExampleTokenizer(chat_tokenizer, TokenizeSettings(kind="causal"))({"messages": [CONVERSATION]})
    ids, labels = out["input_ids"][0], out["labels"][0]
    assert ids == chat_tokenizer(rendered.text, add_special_tokens=False)["input_ids"]
    kept = [t for t in labels if t != IGNORE_INDEX]
    # the two loss messages, each with its end marker (so the model learns to stop)
    assert chat_tokenizer.decode(kept) == (
        '<function_call>{"people": 2}</function_call><|end|>\nAction: inform<|end|>\n'
    )
    assert out["target_length"][0] == len(kept)


def test_causal_model_on_source_target_pairs_learns_the_target_only(chat_tokenizer):
    out = ExampleTokenizer(chat_tokenizer, TokenizeSettings(kind="causal"))(
        {"source": ["a table for 2 "], "target": ["Action: inform"]}
    )
    kept = [t for t in out["labels"][0] if t != IGNORE_INDEX]
    assert chat_tokenizer.decode(kept) == "Action: inform<|end|>"
    assert chat_tokenizer.decode(out["input_ids"][0]) == "a table for 2 Action: inform<|end|>"


def test_a_template_that_drops_a_role_is_reported(chat_tokenizer):
    chat_tokenizer = chat_tokenizer.__class__.from_pretrained(chat_tokenizer.name_or_path)
    chat_tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] != 'observation' %}"
        "{{ m['role'] ~ ': ' ~ m['content'] ~ '\n' }}{% endif %}{% endfor %}"
    )
    with pytest.raises(ConfigError, match="model.role_map.*dropped message 3"):
        render_chat(chat_tokenizer, CONVERSATION)
    # mapping the role onto one the template renders fixes it
    rendered = render_chat(chat_tokenizer, CONVERSATION, role_map={"observation": "user"})
    assert "user: There are 3 entities match" in rendered.text


def test_seq2seq_tokenisation_truncates_and_is_cached(seq2seq_tokenizer, booking_rows, tmp_path,
                                                       monkeypatch):
    data = Dataset.from_list(booking_rows[:50])
    settings = TokenizeSettings(kind="seq2seq", max_source_length=8, max_target_length=128)
    first = tokenize_examples("book", data, seq2seq_tokenizer, settings, tmp_path)
    assert max(first["length"]) == 8
    assert all(row[-1] == seq2seq_tokenizer.eos_token_id for row in first["labels"])
    assert seq2seq_tokenizer.decode(first["labels"][0], skip_special_tokens=True) == booking_rows[0]["target"]

    def fail(self, batch):
        raise AssertionError("tokenised again instead of loading the cache")

    monkeypatch.setattr(ExampleTokenizer, "__call__", fail)
    again = tokenize_examples("book", data, seq2seq_tokenizer, settings, tmp_path)
    assert again["input_ids"] == first["input_ids"]
    assert len(list(Path(tmp_path).glob("*.arrow"))) == 1


def test_collator_pads_to_the_longest_row():
    batch = PaddingCollator(pad_token_id=0)([
        {"input_ids": [5, 6, 7], "labels": [5, 6, 7]},
        {"input_ids": [8], "labels": [IGNORE_INDEX]},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 7], [IGNORE_INDEX] * 3]
    padded = PaddingCollator(pad_token_id=0, pad_to_multiple_of=8)([{"input_ids": [1], "labels": [1]}])
    assert padded["input_ids"].shape == (1, 8)


def make_sampler(lengths, tasks, **kwargs) -> LengthGroupedBatchSampler:
    return LengthGroupedBatchSampler(np.asarray(lengths), tasks, batch_size=4, seed=3,
                                     megabatch_factor=4, **kwargs)


def test_batches_are_seeded_per_epoch_and_cover_every_example():
    lengths = np.random.default_rng(0).integers(5, 60, size=50)
    tasks = [TaskRange("a", 0, 50)]
    sampler = make_sampler(lengths, tasks)
    epoch0 = list(sampler)
    assert sorted(i for b in epoch0 for i in b) == list(range(50))
    assert list(make_sampler(lengths, tasks)) == epoch0  # same seed, same batches
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0 and sorted(i for b in epoch1 for i in b) == list(range(50))
    assert len(sampler) == len(epoch0) == 13
    grouped = padding_efficiency(epoch0, lengths)
    random_order = padding_efficiency(list(make_sampler(lengths, tasks, group_by_length=False)), lengths)
    assert grouped > random_order


def test_task_weights_scale_each_task_per_epoch():
    tasks = [TaskRange("ap", 0, 40, weight=2.0), TaskRange("ps", 40, 20, weight=0.5)]
    sampler = make_sampler(np.full(60, 10), tasks)
    seen = np.concatenate([np.asarray(b) for b in sampler])
    assert (seen < 40).sum() == 80 and set(seen[seen < 40]) == set(range(40))
    assert (seen >= 40).sum() == 10 and len(set(seen[seen >= 40])) == 10


def test_ranks_get_disjoint_equal_shares(monkeypatch):
    lengths = np.random.default_rng(1).integers(5, 60, size=37)
    tasks = [TaskRange("a", 0, 37)]
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr(dm, "distributed_world", lambda rank=rank: (2, rank))
        shares.append([i for b in make_sampler(lengths, tasks) for i in b])
        assert len(make_sampler(lengths, tasks)) == 5  # 10 batches of 4 (last partial) / 2
    assert not set(shares[0]) & set(shares[1])
    assert len(shares[0]) > 0 and len(shares[1]) > 0


def test_resume_skips_exactly_the_batches_already_trained():
    lengths = np.random.default_rng(2).integers(5, 60, size=40)
    tasks = [TaskRange("a", 0, 40)]
    sampler = make_sampler(lengths, tasks)
    sampler.set_epoch(2)
    full = list(sampler)
    resumed = make_sampler(lengths, tasks)
    resumed.resume(epoch=2, batches_done=3)
    assert list(resumed) == full[3:]
    assert list(resumed) == full  # the skip applies to the interrupted epoch only


def test_datamodule_holds_out_validation_and_rejects_unknown_task_weights(seq2seq_tokenizer,
                                                                          booking_rows, tmp_path):
    examples = {"ap": Dataset.from_list(booking_rows[:120]), "ps": Dataset.from_list(booking_rows[120:180])}
    module = ExampleDataModule(examples, seq2seq_tokenizer, tokenize=TokenizeSettings(kind="seq2seq"),
                               data=DataSettings(batch_size=8, val_size=12), seed=0, cache_dir=tmp_path)
    module.setup("fit")
    assert len(module.val_set) == 12 and len(module.train_set) == 168
    assert [(t.name, t.size) for t in module.tasks] == [("ap", 112), ("ps", 56)]
    batch = next(iter(module.train_dataloader()))
    assert batch["input_ids"].shape[0] == 8 and batch["labels"].shape[0] == 8
    given = ExampleDataModule(examples, seq2seq_tokenizer, tokenize=TokenizeSettings(kind="seq2seq"),
                              data=DataSettings(batch_size=8), seed=0, cache_dir=tmp_path,
                              val_examples={"ap": Dataset.from_list(booking_rows[200:205])})
    given.setup("fit")
    assert len(given.val_set) == 5 and len(given.train_set) == 180  # nothing held out
    assert sum(len(b["input_ids"]) for b in given.val_dataloader()) == 5
    with pytest.raises(ConfigError, match="task_weights"):
        ExampleDataModule(examples, seq2seq_tokenizer, tokenize=TokenizeSettings(kind="seq2seq"),
                          data=DataSettings(task_weights={"dst": 2.0}), seed=0)


def test_validation_holds_out_whole_dialogues_when_rows_name_them(seq2seq_tokenizer,
                                                                    booking_rows, tmp_path):
    # 40 dialogues of 4 rows each (e.g. a turn and its value-swap copies)
    rows = [{**r, "dialogue_id": f"d{i // 4}"} for i, r in enumerate(booking_rows[:160])]
    module = ExampleDataModule({"ap": Dataset.from_list(rows)}, seq2seq_tokenizer,
                               tokenize=TokenizeSettings(kind="seq2seq"),
                               data=DataSettings(batch_size=8, val_size=10), seed=0,
                               cache_dir=tmp_path)
    module.setup("fit")
    # tokenised rows keep no ids: find each by its token ids among the encoded sources
    encoded = {tuple(seq2seq_tokenizer(r["source"])["input_ids"]): r["dialogue_id"] for r in rows}
    val_ids = {encoded[tuple(ids)] for ids in module.val_set["input_ids"]}
    train_ids = {encoded[tuple(ids)] for ids in module.train_set["input_ids"]}
    assert len(module.val_set) == 10 and len(val_ids) == 3 and not val_ids & train_ids
    # the held-out dialogues' remaining rows are not trained on either
    assert len(module.train_set) == 160 - 12 and len(train_ids) == 37


@pytest.mark.slow  # ~15-25 s: tokenizer training + tokenising 27k real examples
@pytest.mark.real_data
def test_padding_efficiency_on_real_sgd_text(sgd_root, tmp_path):
    """The goal, >= 0.95 real / padded tokens, on real SGD-derived text: seq2seq on every
    user turn of the dev split with both the encoder and the decoder side counted, and the
    chat format (one sequence per example) on the first 8000."""
    from tod_lab.data.sgd import read_split
    from tod_lab.models.probe_data import state_chat_examples, state_examples

    split = read_split(sgd_root, "dev")
    seq2seq, chat = state_examples(split), state_chat_examples(split, limit=8000)
    texts = list(seq2seq["source"]) + list(seq2seq["target"])
    tok_s = train_tokenizer(texts, TokenizerSpec(algorithm="unigram", vocab_size=2000), tmp_path)
    tok_c = train_tokenizer(texts[:8000], TokenizerSpec(algorithm="bpe", vocab_size=2000, chat=True),
                            tmp_path)
    for tokenizer, data, kind in ((tok_s, seq2seq, "seq2seq"), (tok_c, chat, "causal")):
        module = ExampleDataModule({"dst": data}, tokenizer, tokenize=TokenizeSettings(kind=kind),
                                   data=DataSettings(batch_size=16), seed=0, cache_dir=tmp_path)
        module.setup("fit")
        batches = module.train_batch_sampler().epoch_batches(0)
        targets = module.target_lengths if kind == "seq2seq" else None
        assert padding_efficiency(batches, module.lengths, targets) >= 0.95, kind


def test_default_batches_mix_short_and_long_targets():
    """With the shipped settings a batch is not made of one kind of target: 30% of the
    examples have a 2-token target (PyTOD's `pass`), and most batches hold some of those
    and some longer ones. Whole-epoch sorting with target re-sorting puts nearly all of
    them in pass-only batches (what made a tiny model ignore its input)."""
    rng = np.random.default_rng(0)
    n = 4000
    is_pass = rng.random(n) < 0.3
    targets = np.where(is_pass, 2, rng.integers(6, 40, size=n))
    sources = rng.integers(40, 400, size=n)
    defaults = DataSettings()

    def mixed_share(**kwargs) -> float:
        sampler = LengthGroupedBatchSampler(sources, [TaskRange("ap", 0, n)], batch_size=16,
                                            seed=0, target_lengths=targets, **kwargs)
        batches = sampler.epoch_batches(0)
        return sum(0 < is_pass[b].sum() < len(b) for b in batches) / len(batches)

    shipped = mixed_share(megabatch_factor=defaults.megabatch_factor,
                          target_group_batches=defaults.target_group_batches)
    homogeneous = mixed_share(megabatch_factor=None, target_group_batches=16)
    assert shipped > 0.9 and homogeneous < 0.2


def test_length_curriculum_starts_with_the_shortest_examples_and_then_opens_up():
    lengths = np.random.default_rng(3).permutation(np.arange(10, 410))  # 400 distinct lengths
    tasks = [TaskRange("a", 0, 400)]
    curriculum = dm.Curriculum(batches=60, start=0.1)
    sampler = make_sampler(lengths, tasks, curriculum=curriculum)  # 100 batches of 4
    epoch0 = list(sampler)
    assert len(epoch0) == len(sampler) == 100  # the epoch keeps its size
    # batch 0 draws from the shortest 10% (lengths 10..49), batch 30 from the shortest 55%
    assert max(lengths[epoch0[0]]) < 50
    assert all(max(lengths[b]) < 10 + 0.1 * 400 + 0.9 * 400 * i / 60 + 1 for i, b in enumerate(epoch0[:60]))
    early = np.mean([lengths[b].mean() for b in epoch0[:20]])
    late = np.mean([lengths[b].mean() for b in epoch0[60:]])
    assert early < 0.5 * late
    # deterministic and resumable like every other epoch
    again = make_sampler(lengths, tasks, curriculum=curriculum)
    again.resume(epoch=0, batches_done=7)
    assert list(again) == epoch0[7:]
    # past the curriculum an epoch is the ordinary one
    sampler.set_epoch(1)
    plain = make_sampler(lengths, tasks)
    plain.set_epoch(1)
    assert list(sampler) == list(plain)


def test_curriculum_keys_are_checked():
    with pytest.raises(ConfigError, match="trainer.data.curriculum_start"):
        DataSettings(curriculum_batches=10, curriculum_start=0.0)
    with pytest.raises(ConfigError, match="trainer.data.curriculum_batches"):
        DataSettings(curriculum_batches=-1)


def test_lightning_sees_a_new_epoch_of_batches_every_epoch(seq2seq_tokenizer, booking_rows, tmp_path):
    """Lightning only calls ``set_epoch`` on a loader's sampler, not on its batch sampler:
    the loader must pass the trainer's epoch on, or every epoch repeats epoch 0 (and a
    length curriculum never ends)."""
    import pytorch_lightning as pl
    import torch

    examples = {"ap": Dataset.from_list(booking_rows[:96])}
    module = ExampleDataModule(
        examples, seq2seq_tokenizer, tokenize=TokenizeSettings(kind="seq2seq"),
        data=DataSettings(batch_size=8, val_size=0, curriculum_batches=6, curriculum_start=0.25),
        seed=0, cache_dir=tmp_path)

    class Recorder(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.batches: dict[int, list[list[int]]] = {}

        def training_step(self, batch, _):
            rows = [r[r != seq2seq_tokenizer.pad_token_id].tolist() for r in batch["input_ids"]]
            self.batches.setdefault(self.current_epoch, []).append(sorted(map(tuple, rows)))
            return (self.weight ** 2).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    recorder = Recorder()
    pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, num_sanity_val_steps=0).fit(recorder, datamodule=module)
    sampler = module.train_batch_sampler()
    for epoch in range(3):
        expected = [sorted(tuple(module.train_set[int(i)]["input_ids"]) for i in b)
                    for b in sampler.epoch_batches(epoch)]
        assert recorder.batches[epoch] == expected
    assert recorder.batches[0] != recorder.batches[1] != recorder.batches[2]
    # the curriculum (6 batches of 12) shaped epoch 0 only
    long_rows = sum(len(r) for b in recorder.batches[0][:6] for r in b)
    assert long_rows < sum(len(r) for b in recorder.batches[1][:6] for r in b)
