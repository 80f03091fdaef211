"""Latent files in closed groups (model.gop, format 1.7) through the container and the decoders, without fitting:
a group's architecture is the one a fit of its frames alone solves, the layout rules are checked on read, any
range decodes as the whole file does and touches only its groups, and damaged or crafted group sections (fuzzed
behind valid CRCs) are one line."""
import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from inr_codec import api, container
from inr_codec.bench.synthetic import latent_file
from inr_codec.config import compose, model_settings
from inr_codec.container import format as fmt
from inr_codec.container.records import CodedGroup, CompressedModel, VideoMeta
from inr_codec.container.writer import _tensor_payload, group_payload
from inr_codec import decode
from inr_codec.decode import latent_groups, reference
from inr_codec.errors import ContainerError, InputError
from inr_codec.models.latent import LatentModel, group_arch
from tests.conftest import FUZZ_SEED
from tests.unit.test_container import FUZZ, json_values, mutate, mutation
from tests.unit.test_entropy_models import _build

SHAPE = ("model.levels=2", "model.motion=true", "model.motion_block=8", "model.motion_t_stride=2")


def _gop_file(gop: int = 4, last: int = 2) -> CompressedModel:
    """Two closed groups of a 24x16 video: gop frames, then ``last`` frames, each a synthetic latent model."""
    full = container.from_bytes(latent_file(gop, 16, 24, seed=0, overrides=SHAPE))
    short = container.from_bytes(latent_file(last, 16, 24, seed=1, overrides=SHAPE))
    model = {**full.model, "gop": gop}
    video = VideoMeta(width=24, height=16, frames=gop + last, fps=Fraction(25), pad_width=24, pad_height=16,
                      source_pix_fmt="rgb24")
    groups = [CodedGroup(0, 0, gop, True, full.tensors), CodedGroup(1, gop, last, True, short.tensors)]
    return CompressedModel(video=video, model=model, groups=groups, extra={"seed": 0})


GOP = _gop_file()
GOP_BYTES = container.to_bytes(GOP)


def _sections(cm: CompressedModel) -> list[tuple[int, str, bytes]]:
    return [(fmt.KIND_VIDEO, "", fmt.pack(fmt.layout_video, fmt.video_fields(cm.video))),
            (fmt.KIND_MODEL, "", fmt.json_bytes(cm.model)), (fmt.KIND_EXTRA, "", fmt.json_bytes(cm.extra))] + \
        [(fmt.KIND_GROUP, "", group_payload(g)) for g in cm.groups]


SECTIONS = _sections(GOP)


@pytest.mark.parametrize("overrides", [(), ("model.motion=false",), ("model.t_strides=[3,5,8]", "model.levels=3"),
                                       ("model.t_stride_first=null", "model.motion_t_stride=7")])
def test_a_groups_architecture_is_what_a_fit_of_its_frames_solves(overrides):
    cfg = compose(["model=latent", *overrides])
    full = LatentModel.solve_arch(model_settings(cfg, 16, 30, 40), 16, 30, 40)
    for frames in (16, 9, 4, 1):
        assert group_arch(full, frames) == LatentModel.solve_arch(model_settings(cfg, frames, 30, 40), frames, 30, 40)


def test_the_file_is_1_7_and_reads_back_and_a_file_without_gop_is_not():
    assert GOP_BYTES[5] == fmt.MINOR_LATENT_GROUPS == 7 and _build(SECTIONS, minor=7) == GOP_BYTES
    assert container.to_bytes(container.from_bytes(GOP_BYTES)) == GOP_BYTES
    plain = latent_file(4, 16, 24, overrides=SHAPE)
    assert plain[5] == fmt.MINOR_TENSOR_BLOCK  # a whole-video latent file: motion in one tensor block


def test_any_range_decodes_as_the_whole_file_and_touches_only_its_groups(monkeypatch):
    whole = reference.decode_frames(GOP)
    assert whole.shape == (6, 16, 24, 3)
    for g in GOP.groups:  # each group decodes as a file of its own
        alone = reference.decode_frames(latent_groups.group_model(GOP, g))
        assert np.array_equal(alone, whole[g.start:g.start + g.frames])
    decoded = []  # the groups whose tensors were entropy-decoded
    real = reference.decoder_state
    monkeypatch.setattr(reference, "decoder_state", lambda cm: decoded.append(
        next(g.index for g in GOP.groups if g.tensors is cm.tensors)) or real(cm))
    for backend in ("torch", "fused"):
        for lo, hi in ((4, 6), (3, 5), (0, 4), (5, 6)):
            decoded.clear()
            _, batches = api.decode_stream(GOP, backend=backend, device="cpu", frames=(lo, hi))
            got = np.concatenate(list(batches))
            diff = np.abs(got.astype(int) - whole[lo:hi].astype(int))
            assert diff.max() <= (0 if backend == "torch" else 1), (backend, lo, hi)
            assert decoded == [g.index for g in GOP.groups if g.start < hi and g.start + g.frames > lo]


def test_batches_never_cross_a_group_and_the_network_runs_a_few_frames_at_a_time(monkeypatch):
    whole = reference.decode_frames(GOP)
    ran = []  # the batch size each group's decoder is asked for
    torch_batches = decode.backend_batches("torch")
    monkeypatch.setattr(decode, "backend_batches", lambda name: lambda cm, **kw: ran.append(kw["batch_size"]) or
                        torch_batches(cm, **kw))
    monkeypatch.setattr(latent_groups, "NETWORK_BATCH", 3)
    got = list(latent_groups.decode_batches(GOP, batch_size=4))
    assert [len(b) for b in got] == [4, 2] and ran == [3, 3]
    assert np.array_equal(np.concatenate(got), whole)
    got = list(latent_groups.decode_batches(GOP, batch_size=2, frames=(1, 6)))
    assert [len(b) for b in got] == [2, 1, 2] and np.array_equal(np.concatenate(got), whole[1:6])


def test_info_shows_the_groups_and_the_macs(tmp_path):
    path = tmp_path / "g.bin"
    path.write_bytes(GOP_BYTES)
    r = api.info(path)
    assert r["format"] == "1.7" and [g["frames"] for g in r["groups"]] == ["0-3", "4-5"]
    assert all(g["key"] for g in r["groups"]) and r["macs_per_pixel"] > 0
    assert sum(s["bytes"] for s in r["sections"]) == len(GOP_BYTES)


def _model(**changes) -> bytes:
    return fmt.json_bytes({**GOP.model, **changes})


@pytest.mark.parametrize("secs, minor, problem", [
    (SECTIONS, 6, "with groups in a 1.6 file"),
    ([SECTIONS[0], (fmt.KIND_MODEL, "", _model(gop=0))] + SECTIONS[2:], 7, "gop 0 is not an integer"),
    ([SECTIONS[0], (fmt.KIND_MODEL, "", _model(gop="4"))] + SECTIONS[2:], 7, "gop '4' is not an integer"),
    ([SECTIONS[0], (fmt.KIND_MODEL, "", _model(gop=3))] + SECTIONS[2:], 7, "holds 4 frames with a gop of 3"),
    ([SECTIONS[0], (fmt.KIND_MODEL, "", _model(gop=5))] + SECTIONS[2:], 7, "holds 4 frames with a gop of 5"),
    ([SECTIONS[0], (fmt.KIND_MODEL, "", _model(gop=None))] + SECTIONS[2:], 7, "latent groups without a gop"),
    (SECTIONS[:3], 7, "needs group sections"),
    (SECTIONS[:3] + [(fmt.KIND_TENSOR, "x", _tensor_payload(GOP.groups[0].tensors[-1]))] + SECTIONS[3:], 7,
     "needs group sections and no tensor sections"),
])
def test_crafted_group_layouts_are_one_line(secs, minor, problem):
    with pytest.raises(ContainerError, match=problem) as e:
        container.from_bytes(_build(secs, minor=minor))
    assert "\n" not in str(e.value)


def test_a_residual_latent_group_is_refused():
    head, entries = fmt.unpack_group(SECTIONS[4][2])
    residual = fmt.pack_group(dict(head, key=0), [(n, fmt.pack(fmt.layout_tensor, v)) for n, v in entries])
    with pytest.raises(ContainerError, match="latent group 1 is not a key group"):
        container.from_bytes(_build(SECTIONS[:4] + [(fmt.KIND_GROUP, "", residual)], minor=7))


def test_a_group_whose_tensors_do_not_fit_is_one_line():
    swapped = CompressedModel(video=GOP.video, model=GOP.model, extra={},
                              groups=[GOP.groups[0], CodedGroup(1, 4, 2, True, GOP.groups[0].tensors)])
    cm = container.from_bytes(container.to_bytes(swapped))  # the layout is fine, the shapes are not
    for call in (lambda: api.decode_stream(cm, device="cpu"), lambda: reference.decode_frames(cm)):
        with pytest.raises(ContainerError, match="group 1: the file's tensors do not fit") as e:
            call()
        assert "\n" not in str(e.value)


def test_the_triton_backend_is_refused_in_one_line():
    with pytest.raises(InputError, match="does not decode latent files in closed groups"):
        api.decode_stream(GOP, backend="triton", device="cpu")


def _decodes_or_one_line(data: bytes) -> None:
    try:
        cm = container.from_bytes(data)
    except ContainerError as e:
        assert "\n" not in str(e) and "model.bin" in str(e), str(e)
        return
    try:
        for batch in reference.decode_batches(cm, frames=(cm.video.frames - 1, cm.video.frames)):
            assert batch.dtype == np.uint8
    except (ContainerError, InputError) as e:
        assert str(e).strip() and "\n" not in str(e), str(e)


@seed(FUZZ_SEED)
@settings(max_examples=150, **FUZZ)
@given(which=st.integers(1, len(SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_gop_file_sections_behind_a_valid_crc(which, mutations):
    secs = list(SECTIONS)
    k, n, payload = secs[which]
    secs[which] = (k, n, mutate(payload, mutations))
    _decodes_or_one_line(_build(secs, minor=fmt.MINOR_LATENT_GROUPS))


@seed(FUZZ_SEED)
@settings(max_examples=150, **FUZZ)
@given(key=st.sampled_from(["gop", "frames", "t_strides", "motion", "level_sizes", "h0"]), value=json_values)
def test_any_architecture_key_of_a_gop_file_decodes_or_is_one_line(key, value):
    secs = list(SECTIONS)
    secs[1] = (fmt.KIND_MODEL, "", json.dumps({**GOP.model, key: value}, sort_keys=True,
                                              separators=(",", ":")).encode())
    _decodes_or_one_line(_build(secs, minor=fmt.MINOR_LATENT_GROUPS))
