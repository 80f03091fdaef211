"""Every override is checked before work starts: one line, exit status 2."""
import pytest

from inr_codec.config import compose, validate
from inr_codec.errors import InputError


@pytest.mark.parametrize("override,needle", [
    ("compress.prune=abc", "compress.prune"), ("compress.lmbda=abc", "compress.lmbda"),
    ("compress.prune_epochs=abc", "compress.prune_epochs"), ("train.log_every=0", "train.log_every"),
    ("train.checkpoint_every=abc", "train.checkpoint_every"), ("train.warmup=abc", "train.warmup"),
    ("model.blocks=abc", "model.blocks"), ("model.latent_side=0", "model.latent_side"),
    ("model.ratio=0", "model.ratio"), ("model.embed_dim=0", "model.embed_dim"),
    ("model.kernel_min=2", "must be odd"), ("compress.target_kb=true", "compress.target_kb"),
    ("compress.bits=1", "compress.bits"), ("seed=-1", "seed"),
])
def test_bad_values_are_refused(override, needle):
    with pytest.raises(InputError, match=needle):
        validate(compose(["model=hnerv", override]))  # HNeRV's keys: the default model is the latent grids


def test_nerv_kernel_must_be_odd_and_both_targets_conflict():
    with pytest.raises(InputError, match="odd"):
        validate(compose(["model=nerv", "model.kernel=4"]))
    with pytest.raises(InputError, match="not both"):
        validate(compose(["compress.target_kb=10", "compress.target_bpp=0.1"]))


def test_defaults_and_presets_are_valid():
    validate(compose([]))
    validate(compose(["model=nerv", "compress=full"]))


def test_the_optimizer_is_one_of_two_and_schedule_free_refuses_weight_decay():
    validate(compose(["train.optimizer=schedule_free"]))
    with pytest.raises(InputError, match="train.optimizer=sgd is not supported; use adam, schedule_free"):
        validate(compose(["train.optimizer=sgd"]))
    with pytest.raises(InputError, match="train.weight_decay does not act with train.optimizer=schedule_free"):
        validate(compose(["train.optimizer=schedule_free", "train.weight_decay=0.01"]))
