"""Our own override errors: the nearest valid key or option, never Hydra's hints or search path."""
import pytest

from inr_codec.config import compose
from inr_codec.errors import InputError
from inr_codec.overrides import check, group_options, known_keys


def error_of(overrides, **kw) -> str:
    with pytest.raises(InputError) as e:
        compose(overrides, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "Config search path" not in msg and "provider=hydra" not in msg
    return msg


@pytest.mark.parametrize("override", ["train.epoch=20", "+train.epoch=20", "++train.epoch=20"])
def test_unknown_key_names_the_nearest_with_or_without_plus(override):
    msg = error_of([override])
    assert "did you mean train.epochs?" in msg
    assert "append" not in msg  # Hydra's advice to add +, which would be read by nothing


def test_a_key_under_the_wrong_section_finds_its_home():
    assert "did you mean train.epochs?" in error_of(["epochs=3"])


def test_unknown_group_option_lists_the_options_and_the_nearest():
    msg = error_of(["model=hnerf"])
    assert "hnerv, latent, nerv, nirvana" in msg and "did you mean model=hnerv?" in msg


def test_a_key_of_another_model_says_which():
    msg = error_of(["model=hnerv", "model.gop=8"])
    assert "model=nirvana" in msg and "model=hnerv" in msg
    assert compose(["model=nirvana", "model.gop=8"]).model.gop == 8


def test_eval_and_bench_take_only_data_overrides():
    assert compose(["data.max_frames=24"], only=("data",), command="eval").data.max_frames == 24
    msg = error_of(["train.epochs=3"], only=("data",), command="eval")
    assert msg.startswith("eval takes only data.*")
    assert "did you mean data.max_frames?" in error_of(["data.max_frame=3"], only=("data",), command="eval")


def test_sweep_values_are_checked_one_by_one():
    with pytest.raises(InputError, match="did you mean model=nirvana"):
        check(["model=nerv,nirvanna"])


def test_removing_a_key_is_refused():
    assert "set it instead" in error_of(["~data.crop"])


def test_every_default_key_is_known():
    keys = known_keys()
    for key in ("train.epochs", "compress.bits", "data.crop", "seed", "measure", "model.size_m"):
        assert key in keys
    assert group_options("model") == ["hnerv", "latent", "nerv", "nirvana"]
