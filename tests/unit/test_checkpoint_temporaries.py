"""save_checkpoint removes the temporaries a killed write of *its* file left, never another file's in-progress one
(torchrun ranks write NIRVANA's segment files into one folder at the same time)."""
from inr_codec.train.checkpoint import load_checkpoint, save_checkpoint


def test_only_this_checkpoints_stale_temporaries_are_removed(tmp_path):
    other = tmp_path / ".ckpt-segment_00001.pt-abc.tmp"   # another process writing segment 1 right now
    stale = tmp_path / ".ckpt-segment_00000.pt-xyz.tmp"   # a killed write of segment 0
    other.write_bytes(b"in progress")
    stale.write_bytes(b"left behind")
    save_checkpoint(tmp_path / "segment_00000.pt", {"a": 1})
    assert other.read_bytes() == b"in progress" and not stale.exists()
    assert load_checkpoint(tmp_path / "segment_00000.pt") == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "segment_00000.pt"]
