"""Every knob acts or says why not (inr_codec/knobs.py), and quality=N (inr_codec/quality.py): each override that
would change nothing under the chosen model and preset is one line naming what would make it act, before
torch loads; the same override where it acts is accepted."""
import pytest

from inr_codec.config import compose, validate
from inr_codec.errors import InputError
from inr_codec.knobs import choice
from tests.unit.test_fast_start import run_fresh

HNERV_PTQ = ["model=hnerv", "compress=default"]
NV_CONV = ["model=nirvana"]  # head: conv, segment 3
NV_KEYS = ["model=nirvana", "model.head=mlp", "model.grid_ch=0", "model.segment=1"]

# (the combination, the inert override, words of the message that name what would make it act)
REFUSED = [
    (HNERV_PTQ, "compress.lmbda=0.01", "add compress=latent (model=latent) or compress=rd"),
    (["compress=default", "model=nerv"], "compress.lmbda=0.5", "compress.qat_epochs above 0"),
    (HNERV_PTQ, "compress.rd_epochs=5", "learned-entropy setting: add compress=latent"),
    (HNERV_PTQ, "compress.weight_model=laplace0", "learned-entropy setting"),
    (HNERV_PTQ, "compress.steps=tensor", "learned-entropy setting"),
    (HNERV_PTQ, "compress.rd_fit=true", "learned-entropy setting"),
    (["model=hnerv"], "compress.latent_model=nb", "use it with model=latent compress=latent"),
    ([], "compress.qat_noise=0.5", "set compress.rd_epochs"),
    (HNERV_PTQ, "compress.qat_noise=0.5", "add compress.qat_epochs above 0"),
    (HNERV_PTQ, "compress.prune_epochs=5", "add compress.prune above 0"),
    (HNERV_PTQ, "compress.finetune_lr=1e-3", "add compress.qat_epochs"),
    ([], "compress.embed_bits=4", "only HNeRV stores embeddings"),
    (["model=nerv"], "compress.embed_bits=4", "model=nerv has none"),
    ([], "compress.ladder=[0.1,0.01]", "add quality=1..5"),
    ([], "model.size_m=0.2", "sized by model.levels, model.hidden and model.layers"),
    (["train.lr=5e-3"], "model.fit_lr=2e-2", "train.lr on the command line wins"),
    ([], "train.candidate_epochs=3", "add train.candidates above 1"),
    ([], "train.compile=true", "torch.compile recompiles until it gives up"),
    (["model=hnerv"], "train.compile=true", "compile the static presets"),
    (["model.t_strides=[2,4,8,16,32,32]"], "model.t_stride_max=8", "model.t_strides gives every level's stride"),
    (["model.t_strides=[2,4,8,16,32,32]"], "model.t_stride_base=1", "drop one of the two"),
    (["model.t_strides=[2,4,8,16,32,32]"], "model.t_stride_first=4", "drop one of the two"),
    (["model.motion=false"], "model.motion_block=8", "add model.motion=true"),
    (["model.motion=false"], "model.motion_t_stride=8", "add model.motion=true"),
    (["model.motion=false"], "model.motion_search=4", "add model.motion=true"),
    (NV_CONV, "train.epochs=10", "set model.key_steps and model.steps"),
    (NV_CONV, "train.lr=1e-3", "set model.lr and model.residual_lr"),
    (NV_CONV, "train.batch_size=4", "set model.batch"),
    (NV_CONV, "train.warmup=0.2", "model=nirvana trains group by group"),
    (NV_CONV, "compress.lmbda=0.01", "set the rate with compress.bits and model.residual_bits"),
    (NV_CONV, "compress.embed_bits=4", "quantizes while it trains"),
    (NV_CONV, "model.layers=4", "add model.head=mlp"),
    (NV_CONV, "model.mix=false", "add model.head=mlp"),
    (NV_KEYS, "model.grid_t=4", "add model.grid_ch above 0"),
    (NV_KEYS, "model.steps=50", "set model.segment above 1"),
    (NV_KEYS, "model.residual_lr=1e-3", "set model.segment above 1"),
    (NV_KEYS, "model.residual_bits=4", "set model.segment above 1"),
    (NV_KEYS, "model.residual_l1=0.1", "set model.segment above 1"),
    (NV_KEYS, "model.residual_train=all", "set model.segment above 1"),
    (NV_KEYS, "model.adapt_bits=false", "set model.segment above 1"),
]


@pytest.mark.parametrize("combo, override, fix", REFUSED, ids=[f"{' '.join(c)} {o}" for c, o, _ in REFUSED])
def test_an_inert_knob_is_one_line_naming_what_would_make_it_act(combo, override, fix):
    with pytest.raises(InputError) as e:
        validate(compose([*combo, override]))
    msg = str(e.value)
    assert msg.startswith(f"{override} changes nothing under model=") and fix in msg and "\n" not in msg


# the same knobs where they act: no error
ACTING = [
    ["model=hnerv", "compress=full", "compress.lmbda=0.01"], ["compress.lmbda=0.03"],
    ["model=hnerv", "compress.steps=channel"], ["compress.latent_model=ctx"],
    ["model=hnerv", "compress=full", "compress.qat_noise=0.5"],
    [*HNERV_PTQ, "compress.prune=0.2", "compress.prune_epochs=3"],
    [*HNERV_PTQ, "compress.qat_epochs=3", "compress.finetune_lr=1e-3"],
    ["model=hnerv", "compress.embed_bits=4"], ["quality=2", "compress.ladder=[0.1,0.05,0.02]"],
    ["model=hnerv", "model.size_m=0.2"], ["model.fit_lr=2e-2"], ["train.candidates=2", "train.candidate_epochs=3"],
    ["model.t_stride_max=8"], [*HNERV_PTQ, "train.compile=true"],
    ["model.motion=true", "model.motion_block=8", "model.motion_t_stride=8", "model.motion_search=4"],
    ["model=nirvana", "model.segment=2", "model.steps=50", "model.head=mlp", "model.grid_ch=2", "model.grid_t=4",
     "model.layers=2"],
    ["model=nirvana", "compress.bits=6", "compress.bias_bits=6"], ["compress.finetune_lr=1e-3"],
]


@pytest.mark.parametrize("overrides", ACTING, ids=[" ".join(o) for o in ACTING])
def test_the_same_knobs_where_they_act_are_accepted(overrides):
    validate(compose(overrides))


SAME = [(HNERV_PTQ, "compress.prune_epochs=0"), (HNERV_PTQ, "compress.qat_noise=0.0"), (HNERV_PTQ, "compress.lmbda=0"),
        (HNERV_PTQ, "compress.rd_fit=false"), (["model=nerv"], "compress.embed_bits=6"),
        ([], "train.candidate_epochs=5"), (["model=nirvana"], "train.epochs=300")]


@pytest.mark.parametrize("combo, override", SAME, ids=[f"{' '.join(c)} {o}" for c, o in SAME])
def test_an_inert_knob_set_to_the_presets_own_value_asks_no_change_and_passes(combo, override):
    validate(compose([*combo, override]))  # scripts that write the defaults out keep working
    bumped = override.replace("=0.0", "=0.5").replace("=0", "=3").replace("false", "true").replace("=6", "=4")
    with pytest.raises(InputError, match="changes nothing"):  # and any other value is refused
        compose([*combo, bumped.replace("=5", "=7").replace("=300", "=30")])


def test_the_latent_models_keys_under_hnerv_name_the_model_that_has_them():
    with pytest.raises(InputError, match="model.levels is a setting of model=latent, not of model=hnerv"):
        compose(["model=hnerv", "model.levels=3"])


def test_the_preset_named_is_the_models_own_unless_one_is_given():
    assert [choice("compress", o) for o in ([], ["model=hnerv"], ["model=nerv"], ["model=nirvana"],
                                            ["model=latent", "compress=rd"])] == ["latent", "rd", "default",
                                                                                  "default", "rd"]


def test_an_inert_knob_fails_before_torch_with_exit_2(tmp_path):
    code, torch_modules, err = run_fresh("fit", "model=hnerv", "compress=default", "compress.lmbda=0.01", cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1 and "compress.lmbda=0.01 changes nothing" in err, err
    assert torch_modules == []


QUALITY = [(1, 0.064), (2, 0.032), (3, 0.016), (4, 0.008), (5, 0.004)]


@pytest.mark.parametrize("q, lmbda", QUALITY)
def test_quality_picks_the_presets_lambda(q, lmbda):
    assert compose([f"quality={q}"]).compress.lmbda == pytest.approx(lmbda)


def test_quality_3_is_the_default_lambda_and_the_ladder_falls():
    assert compose(["quality=3"]).compress.lmbda == compose([]).compress.lmbda
    ladder = list(compose([]).compress.ladder)
    assert ladder == sorted(ladder, reverse=True) and len(ladder) == 5


@pytest.mark.parametrize("overrides, needle", [
    (["quality=0"], "give a whole number from 1 (smallest file) to 5 (best quality)"),
    (["quality=6"], "from 1 (smallest file) to 5"),
    (["quality=high"], "give a whole number"),
    (["quality=2", "compress.lmbda=0.01"], "quality=2 and compress.lmbda both set the rate"),
    (["quality=2", "compress.target_kb=20"], "quality=2 and compress.target_kb both set the rate"),
    (["model=hnerv", "quality=2"], "compress=rd has none (model=latent compress=latent has one)"),
    ([*HNERV_PTQ, "quality=2"], "compress=default has none"),
])
def test_quality_where_it_cannot_act_is_one_line(overrides, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        validate(compose(overrides))
