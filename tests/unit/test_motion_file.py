"""Latent files with motion (format 1.6) through the container and the decoders: a fit decodes to the PSNR it
reports, any range of frames decodes as the whole video does, one and two threads agree, and a damaged or
crafted motion key is one line."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from inr_codec import api, container
from inr_codec.bench.synthetic import latent_file
from inr_codec.container import format as fmt
from inr_codec.decode import latent_cpu, reference
from inr_codec.errors import ContainerError
from tests.conftest import FUZZ_SEED
from tests.unit.test_container import FUZZ, json_values, mutation, mutate, sections_of
from tests.unit.test_entropy_models import _build

MOTION_FIT = ["model.levels=3", "model.hidden=8", "model.t_strides=[4,4,4]", "model.motion=true",
              "model.motion_block=8", "model.motion_t_stride=2", "train.epochs=20", "compress.qat_epochs=2",
              "compress.lmbda=0.001", "train.lr=2e-2", "measure=psnr"]

MOTION = container.from_bytes(latent_file(4, 16, 24, overrides=("model.motion=true", "model.levels=2",
                                                                "model.motion_block=8")))
MOTION_SECTIONS = sections_of(MOTION)


def test_a_fit_with_motion_decodes_to_the_psnr_it_measured_and_any_range_as_the_whole(tmp_path, tiny_clip):
    out = tmp_path / "m.bin"
    summary = api.fit(tiny_clip, MOTION_FIT, out=out, outputs_root=tmp_path / "o", show_progress=False)
    cm = container.read(out)
    assert out.read_bytes()[5] == fmt.MINOR_TENSOR_BLOCK and cm.tensor_block and cm.model["motion"] == {"size": [3, 5], "t_stride": 2}
    assert {"latents.motion_x", "latents.motion_y"} <= {t.name for t in cm.tensors}
    assert api.evaluate(out, tiny_clip, metrics=["psnr"])["psnr"] == pytest.approx(summary["psnr"], abs=1e-6)
    assert summary["psnr"] > 15
    whole = reference.decode_frames(cm)
    assert np.array_equal(reference.decode_frames(cm, frames=(3, 6)), whole[3:6])  # random access
    fused = [_fused(cm, (2, 6), threads) for threads in (1, 2)]
    assert np.array_equal(fused[0], fused[1])  # frames do not depend on the threads
    diff = np.abs(fused[0].astype(int) - whole[2:6].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-4
    assert "motion" in api.info(out)["model"]


def _fused(cm, frames, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the fused decoder runs a frame per thread
    try:
        return np.concatenate(list(latent_cpu.decode_batches(cm, frames=frames)))
    finally:
        torch.set_num_threads(before)


def test_a_motion_file_claiming_format_1_5_is_refused():
    assert container.to_bytes(MOTION)[5] == fmt.MINOR_TENSOR_BLOCK  # motion (1.6) in a tensor block (1.8)
    with pytest.raises(ContainerError, match="motion came in 1.6"):
        container.from_bytes(_build(MOTION_SECTIONS, minor=fmt.MINOR_LATENT_NEIGHBOURS))


def _decodes_or_one_line(data: bytes) -> None:
    try:
        cm = container.from_bytes(data)
    except ContainerError as e:
        assert "\n" not in str(e) and "model.bin" in str(e), str(e)
        return
    try:
        reference.build_decoder(cm)  # the tensors decoded and the network built (sizes are capped before)
    except ContainerError as e:
        assert str(e).strip() and "\n" not in str(e), str(e)


@seed(FUZZ_SEED)
@settings(max_examples=200, **FUZZ)
@given(which=st.integers(1, len(MOTION_SECTIONS) - 1), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_motion_file_sections_behind_a_valid_crc(which, mutations):
    secs = list(MOTION_SECTIONS)
    k, n, payload = secs[which]
    secs[which] = (k, n, mutate(payload, mutations))
    _decodes_or_one_line(_build(secs, minor=fmt.MINOR_TENSOR_BLOCK))


@seed(FUZZ_SEED)
@settings(max_examples=200, **FUZZ)
@given(motion=st.one_of(json_values, st.fixed_dictionaries({"size": json_values, "t_stride": json_values}),
                        st.fixed_dictionaries({"size": st.lists(st.integers(-3, 1 << 20), max_size=3),
                                               "t_stride": st.integers(-3, 1 << 20)})))
def test_any_motion_key_decodes_or_is_one_line(motion):
    model = {**MOTION.model, "motion": motion}
    secs = list(MOTION_SECTIONS)
    secs[1] = (fmt.KIND_MODEL, "", json.dumps(model, sort_keys=True, separators=(",", ":")).encode())
    _decodes_or_one_line(_build(secs, minor=fmt.MINOR_TENSOR_BLOCK))
