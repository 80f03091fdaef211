"""Data-parallel fitting under ``torchrun``: one network, its batches split across processes.

Every helper is a no-op (or the identity) in a single process, i.e. when ``WORLD_SIZE`` is unset
or 1, so the single-process fit runs exactly the arithmetic it always ran.

The scheme (see docs/architecture.md): every rank reads the video and builds the same model
(same seed); rank 0's parameters are broadcast anyway. Each step's batch of ``train.batch_size``
frames (the epoch's order is a permutation fixed by (seed, epoch)) is split into ``world``
contiguous shards; each rank scales its shard's loss by shard/batch, so that after summing the
gradients with one all-reduce every rank holds the gradient of the whole batch's loss and takes
the same optimizer step. Only rank 0 writes files.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import torch
import torch.distributed as dist


_alone = False  # inside ``alone()``: this process fits a network of its own


@contextmanager
def alone():
    """Inside: this rank fits a network of its own (its closed groups, ``model.gop``), so every helper a fit calls
    (shard, the all-reduces, the broadcasts, from_main, world_size) acts as in a single process; gathering the
    ranks' results (``gather_to_main``) happens outside."""
    global _alone
    before, _alone = _alone, True
    try:
        yield
    finally:
        _alone = before


def world_size() -> int:
    if _alone:
        return 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0") or 0)


def is_main() -> bool:
    return rank() == 0


def active() -> bool:
    return not _alone and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init(device: torch.device) -> torch.device:
    """Join the process group torchrun describes (env://); returns the device this rank fits on.

    nccl for CUDA (each rank on cuda:LOCAL_RANK), gloo on the CPU. Idempotent; nothing to do
    when WORLD_SIZE is unset or 1.
    """
    if world_size() <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    global _joined
    _joined = True
    return device


_joined = False  # this process joined a group (and must not go through interpreter finalization)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_now(code: int) -> None:
    """End a process that joined a group with ``code``, skipping interpreter finalization: gloo's worker
    threads can still hold tensors then, and releasing them there aborts the process now and then
    (SIGABRT, "terminate called without an active exception") after a fit that succeeded. No-op in a
    process that never joined one."""
    if not _joined:
        return
    if code == 0:  # after a failure another rank may be inside a collective: leave without tearing down
        shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def barrier() -> None:
    if active():
        dist.barrier()


def shard(idx: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous part of a batch of frame indices (possibly empty if the batch is smaller
    than the number of processes)."""
    if not active():
        return idx
    return idx.tensor_split(dist.get_world_size())[dist.get_rank()]


def broadcast_params(module: torch.nn.Module) -> None:
    """Make every rank hold rank 0's parameters and buffers."""
    if not active():
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def all_reduce_grads(params) -> None:
    """Sum the gradients of ``params`` over all ranks in one collective (a missing gradient counts
    as zero). Each rank has already scaled its loss by its share of the batch, so the sum is the
    gradient of the whole batch's mean loss."""
    if not active():
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` summed over all ranks (``t`` itself is left as it was)."""
    if not active():
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def from_main(value: float, device: torch.device | str = "cpu") -> float:
    """Rank 0's value of a float (e.g. elapsed seconds under a time budget), so that every rank
    takes the same decision from it."""
    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def broadcast_object(obj):
    """Rank 0's picklable object on every rank (also a barrier)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_main(obj) -> list | None:
    """Every rank's picklable object in rank order, on rank 0 (None on the others); e.g. the groups
    each rank coded."""
    if not active():
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out
