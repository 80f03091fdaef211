"""The decoder refuses, before allocating, a file whose architecture and tensors disagree."""
from pathlib import Path

import pytest

from inr_codec import container
from inr_codec.decode.reference import build_decoder
from inr_codec.errors import ContainerError

GOLDEN = Path(__file__).parents[1] / "golden" / "v1.0_hnerv_tiny.bin"


def test_architecture_that_asks_for_huge_tensors_is_refused_without_allocating():
    cm = container.read(GOLDEN)
    cm.model["channels"] = [200000] * len(cm.model["channels"])  # would be tens of GB if built for real
    with pytest.raises(ContainerError, match="do not fit its hnerv architecture"):
        build_decoder(cm)


def test_missing_tensor_is_refused():
    cm = container.read(GOLDEN)
    cm.tensors = cm.tensors[:-1]
    with pytest.raises(ContainerError, match="do not fit"):
        build_decoder(cm)


def test_unknown_model_name_is_refused():
    cm = container.read(GOLDEN)
    cm.model["name"] = "vit"
    with pytest.raises(ContainerError, match="not known"):
        build_decoder(cm)


@pytest.mark.parametrize("field,value,needle", [
    ("frames", 10, "frames"), ("channels", [], "do not fit"), ("strides", [0], "strides"), ("h0", 7, "outputs"),
])
def test_inconsistent_headers_are_one_line_errors(field, value, needle):
    cm = container.read(GOLDEN)
    cm.model[field] = value
    with pytest.raises(ContainerError, match=needle):
        build_decoder(cm)


def test_crop_outside_the_output_is_refused():
    import dataclasses
    cm = container.read(GOLDEN)
    cm.video = dataclasses.replace(cm.video, width=cm.video.pad_width + 5)
    with pytest.raises(ContainerError, match="crop"):
        build_decoder(cm)
