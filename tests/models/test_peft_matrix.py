"""Every PEFT method (and full fine-tuning) on both tiny models: trains with decreasing
loss, checkpoints, exports, reloads and generates the same text as before saving."""

from __future__ import annotations

import json

import pytest

from tod_lab.models.factory import load_bundle

METHODS = ["none", "lora", "qlora", "prefix", "prompt", "ia3", "adalora"]
MODELS = ["t5_tiny", "llama_tiny"]
# the representative subset of the fast suite; the rest of the matrix is marked slow
FAST = {("t5_tiny", "lora"), ("llama_tiny", "lora"), ("t5_tiny", "none"), ("llama_tiny", "qlora"),
        ("t5_tiny", "adalora")}
# learning rates for adapters on a *randomly initialised* tiny base over 40 steps (the
# shipped peft configs carry the usual rates for pretrained models)
TEST_LR = {"none": 3e-3, "lora": 1e-2, "qlora": 1e-2, "prefix": 3e-2, "prompt": 0.3, "ia3": 0.1,
           "adalora": 2e-2}
COMBOS = [
    pytest.param(model, peft, id=f"{model}-{peft}",
                 marks=() if (model, peft) in FAST else pytest.mark.slow)
    for model in MODELS
    for peft in METHODS
]


@pytest.mark.parametrize(("model", "peft"), COMBOS)
def test_method_trains_saves_reloads_generates(model, peft, train_tiny, logged_losses, tmp_path,
                                               booking_rows):
    steps = 40
    bundle, cfg = train_tiny(model, peft, tmp_path, steps=steps, extra=[f"optimizer.lr={TEST_LR[peft]}"])

    losses = logged_losses(tmp_path)
    assert len(losses) == steps
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    print(f"{model}-{peft}: loss {first:.3f} -> {last:.3f} ({last / first:.3f})")
    assert last < first * 0.95, f"loss did not decrease: {first:.3f} -> {last:.3f}"

    metrics = json.loads((tmp_path / "train_metrics.json").read_text())
    assert metrics["global_step"] == steps and metrics["peft"] == peft
    assert metrics["val_loss"] is not None and metrics["val_loss"] < losses[0]
    if peft == "none":
        assert metrics["trainable_params"] == metrics["total_params"]
        assert (tmp_path / "model" / "full" / "config.json").is_file()
    else:
        assert 0 < metrics["trainable_params"] < metrics["total_params"]
        assert (tmp_path / "model" / "adapter" / "adapter_config.json").is_file()
        assert (tmp_path / "checkpoints" / "adapter-last" / "adapter_config.json").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    header = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "lr-AdamW" in header  # the learning rate is logged per step

    prompts = [r["source"] for r in booking_rows[:3]]
    if bundle.kind == "causal":
        prompts = [[{"role": "user", "content": p}] for p in prompts]
    before = bundle.generator(max_new_tokens=12).generate(prompts)
    reloaded = load_bundle(tmp_path)
    assert reloaded.peft_method == peft and reloaded.kind == bundle.kind
    after = reloaded.generator(max_new_tokens=12).generate(prompts)
    assert len(after) == 3 and all(isinstance(t, str) for t in after)
    assert after == before


@pytest.mark.parametrize(("model", "peft"), [("t5_tiny", "lora"), ("llama_tiny", "lora"),
                                             pytest.param("llama_tiny", "qlora", marks=pytest.mark.slow),
                                             pytest.param("t5_tiny", "prompt", marks=pytest.mark.slow)])
def test_gradient_checkpointing_with_peft_gives_the_same_training(model, peft, train_tiny,
                                                                  logged_losses, tmp_path):
    """Recomputing activations in the backward pass (dropout RNG replayed) must not change
    what is learnt: same per-step losses with and without checkpointing."""
    extra = [f"optimizer.lr={TEST_LR[peft]}"]
    train_tiny(model, peft, tmp_path / "plain", steps=8, extra=extra)
    bundle, _ = train_tiny(model, peft, tmp_path / "ckpt", steps=8,
                           extra=[*extra, "trainer.gradient_checkpointing=true"])
    base = bundle.model.get_base_model()
    assert base.is_gradient_checkpointing
    assert logged_losses(tmp_path / "ckpt") == pytest.approx(logged_losses(tmp_path / "plain"),
                                                             rel=1e-4)


def test_prefix_tuning_with_gradient_checkpointing_is_refused_clearly(train_tiny, tmp_path):
    from tod_lab.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.gradient_checkpointing.*prefix"):
        train_tiny("t5_tiny", "prefix", tmp_path, steps=2,
                   extra=["trainer.gradient_checkpointing=true"])


def test_gradient_accumulation_counts_optimizer_steps(train_tiny, logged_losses, tmp_path):
    bundle, _ = train_tiny("t5_tiny", "lora", tmp_path, steps=6,
                           extra=["trainer.lightning.accumulate_grad_batches=2",
                                  "optimizer.lr=1e-2"])
    metrics = bundle.train_metrics
    assert metrics["global_step"] == 6
    # 12 batches of 8 consumed out of 28 per epoch (224 training rows)
    assert metrics["epochs"] == pytest.approx(12 / 28, abs=1e-3)
    assert len(logged_losses(tmp_path)) == 6  # one logged loss per optimiser step
