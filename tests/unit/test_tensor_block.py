"""The tensor block (section kind 6, format 1.8): every tensor in one section, names front-coded."""
import dataclasses

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from inr_codec import container
from inr_codec.container import format as fmt
from inr_codec.container import writer as writer_module
from inr_codec.container.tensor_block import pack_block, shared_prefix, unpack_block
from inr_codec.errors import ContainerError
from tests.conftest import FUZZ_SEED
from tests.unit.test_container import FUZZ, assert_tensor_equal, make_model, mutate, mutation, parse_or_one_line_error
from tests.unit.test_entropy_models import _build

MODEL = dataclasses.replace(make_model(), tensor_block=True)


def _block_sections(cm) -> list[tuple[int, str, bytes]]:
    secs = [(fmt.KIND_VIDEO, "", writer_module._video_payload(cm.video)),
            (fmt.KIND_MODEL, "", writer_module._json_payload(cm.model, "model"))]
    if cm.extra:
        secs.append((fmt.KIND_EXTRA, "", writer_module._json_payload(cm.extra, "extra")))
    entries = [(t.name, writer_module._tensor_payload(t)) for t in cm.tensors]
    return secs + [(fmt.KIND_TENSORS, "", pack_block(entries))]


SECTIONS = _block_sections(MODEL)
RECORD = unpack_block(SECTIONS[-1][2])[0][1]  # a valid tensor record


def test_names_are_front_coded_by_whole_characters():
    assert pack_block([("ab", b"x"), ("ac", b"yz")]) == bytes([2, 0, 2]) + b"ab" + bytes([1]) + b"x" \
        + bytes([1, 1]) + b"c" + bytes([2]) + b"yz"
    assert shared_prefix("level0", "level1") == 5 and shared_prefix("", "a") == 0
    assert shared_prefix("aé", "aè") == 1  # é and è share their first UTF-8 byte, not a character
    entries = [("latents.level0", b"1"), ("latents.level1", b""), ("aé", b"22"), ("aè", b"3"), ("aè.x", b"")]
    assert unpack_block(pack_block(entries)) == entries


def test_a_block_file_round_trips_is_1_8_and_smaller_than_a_section_per_tensor():
    data = container.to_bytes(MODEL)
    plain = container.to_bytes(dataclasses.replace(MODEL, tensor_block=False))
    assert data[5] == fmt.MINOR_TENSOR_BLOCK and plain[5] < fmt.MINOR_TENSOR_BLOCK
    back = container.from_bytes(data)
    assert back.tensor_block and not container.from_bytes(plain).tensor_block
    for a, b in zip(MODEL.tensors, back.tensors, strict=True):
        assert_tensor_equal(a, b)
    assert container.to_bytes(back) == data == _build(SECTIONS, minor=fmt.MINOR_TENSOR_BLOCK)
    # each tensor saves its section's kind byte and CRC-32, and most of its name
    assert len(plain) - len(data) > 5 * (len(MODEL.tensors) - 1)
    sizes = container.section_sizes(data)
    assert sizes[-1][0] == "tensors" and sum(b for _, b in sizes) == len(data)


def test_a_block_with_no_tensors_is_written_as_no_section_and_groups_refuse_one():
    empty = dataclasses.replace(MODEL, tensors=[])
    assert container.from_bytes(container.to_bytes(empty)).tensors == []
    from inr_codec.container.records import CodedGroup
    with_groups = dataclasses.replace(MODEL, groups=[CodedGroup(0, 0, MODEL.video.frames, True, [])])
    with pytest.raises(ValueError, match="beside group sections"):
        container.to_bytes(with_groups)


@pytest.mark.parametrize("sections, minor, needle", [
    (SECTIONS, fmt.MINOR_LATENT_GROUPS, "tensor block in a 1.7 file"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSOR, "decoder.0.weight", RECORD)] + SECTIONS[-1:],
     fmt.MINOR_TENSOR_BLOCK, "beside tensor or group sections"),
    (SECTIONS + SECTIONS[-1:], fmt.MINOR_TENSOR_BLOCK, "out of order or repeated"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSORS, "", b"\x00")], fmt.MINOR_TENSOR_BLOCK, "empty tensor block"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSORS, "x", SECTIONS[-1][2])], fmt.MINOR_TENSOR_BLOCK, "takes none"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSORS, "", b"\x01\x03\x01a\x00")], fmt.MINOR_TENSOR_BLOCK, "shares 3 bytes"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSORS, "", SECTIONS[-1][2] + b"\x00")], fmt.MINOR_TENSOR_BLOCK, "after the tensor"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSORS, "", pack_block([("a", RECORD), ("a", RECORD)]))], fmt.MINOR_TENSOR_BLOCK,
     "empty or repeated"),
    (SECTIONS[:-1] + [(fmt.KIND_TENSORS, "", b"\x02\x00\x02\xc3\xa9\x00\x01\x01\xa9\x00")], fmt.MINOR_TENSOR_BLOCK,
     "UTF-8"),
])
def test_malformed_blocks_are_one_line(sections, minor, needle):
    with pytest.raises(ContainerError, match=needle) as e:
        container.from_bytes(_build(sections, minor=minor))
    assert "\n" not in str(e.value)


@seed(FUZZ_SEED)
@settings(max_examples=300, **FUZZ)
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_tensor_block_behind_a_valid_crc(mutations):
    secs = list(SECTIONS)
    k, n, payload = secs[-1]
    secs[-1] = (k, n, mutate(payload, mutations))
    parse_or_one_line_error(_build(secs, minor=fmt.MINOR_TENSOR_BLOCK), decode=True)
