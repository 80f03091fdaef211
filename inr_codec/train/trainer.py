"""The fitting loop: Adam with warm-up and cosine decay (or Schedule-Free Adam), checkpoints, progress, time budget."""
from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from ..data import FrameSet
from ..errors import FitInterrupted, InputError
from ..words import plural
from . import accel, distributed
from .budget import BudgetForecast
from .schedule_free import ScheduleFreeAdam
from .checkpoint import load_checkpoint, save_checkpoint
from .fit_bar import FitBar
from .losses import get_loss
from .schedule import learning_rate, progress
from .speed_watch import for_device, report

log = logging.getLogger("inr_codec.train")


class _StopRequested(Exception):
    """Raised inside the loop, between two steps, after Ctrl-C or SIGTERM."""


@dataclass
class FitState:
    epoch: int = 0          # epochs completed
    step: int = 0           # optimizer steps taken
    batch: int = 0          # batches of epoch ``epoch`` already taken (a checkpoint may fall mid-epoch)
    epoch_mse: float = 0.0  # sum of (batch MSE x batch frames) over those batches, for the epoch's log line
    elapsed_s: float = 0.0  # fitting seconds so far (across resumes)
    history: list = field(default_factory=list)  # [(epoch, seconds, loss, psnr)]
    budget_ended: bool = False  # train.budget_s ended the phase before its epochs


def _param_groups(model: torch.nn.Module) -> list[dict]:
    """The trainable parameters in one Adam group per learning-rate scale (a parameter's ``lr_scale``
    attribute, 1 where it has none; the latent model's grids learn faster than its synthesis)."""
    groups: dict[float, list] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    return [dict(params=ps, lr_scale=scale) for scale, ps in sorted(groups.items())]


class Trainer:
    def __init__(self, model: torch.nn.Module, frames: FrameSet, cfg, *, seed: int = 0,
                 run_dir: Path | None = None, fingerprint: dict | None = None, show_progress: bool = True,
                 phase: str = "fit", extra_loss=None):
        # phase names the checkpoint file and the progress bar; extra_loss(idx) (e.g. a rate term; idx the
        # batch's frame indices) is added to the distortion at every step, its at(p), if it has one, called
        # before the step at the schedule's progress p.
        self.phase = phase
        self.extra_loss = extra_loss
        self.model = model
        self.frames = frames
        self.cfg = cfg
        self.seed = seed
        self.run_dir = run_dir
        self.fingerprint = fingerprint or {}
        self.show_progress = show_progress
        self.loss_fn = get_loss(cfg.loss)
        device = frames.device
        if device.type == "cpu":
            accel.keep_freed_memory()
        self.precision = accel.resolve_precision(cfg.get("precision", "auto"), device, model)
        self.bf16 = self.precision == "bf16"  # bf16 autocast of the network's forward pass (weights stay fp32)
        self.channels_last = bool(cfg.get("channels_last", False))
        if self.channels_last:  # NHWC convolutions: faster with oneDNN on CPUs and tensor cores on GPUs
            model.to(memory_format=torch.channels_last)
        self.compiled = bool(cfg.get("compile", False))
        if self.compiled:
            accel.check_compile(device)
        # The compiled forward shares the model's parameters; checkpoints keep the plain module's names.
        self.forward = torch.compile(model) if self.compiled else model
        self.schedule_free = cfg.get("optimizer", "adam") == "schedule_free"
        if self.schedule_free:  # a constant rate after the warm-up, the average of the steps (train/schedule_free.py)
            self.optimizer = ScheduleFreeAdam(_param_groups(model), lr=cfg.lr)
        else:
            self.optimizer = torch.optim.Adam(
                _param_groups(model), lr=cfg.lr, betas=(0.9, 0.999),
                weight_decay=cfg.weight_decay, fused=accel.fused_adam_supported(device) or None)
        self.state = FitState()
        n = len(frames)
        self.batch_size = max(1, min(int(cfg.batch_size), n))
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        log.info("%s: %s, batch %d, %s%s%s, %s", phase, device, self.batch_size, self.precision,
                 " channels-last" if self.channels_last else "", " compiled" if self.compiled else "",
                 "Schedule-Free Adam" if self.schedule_free else
                 f"fused Adam {'on' if self.optimizer.defaults.get('fused') else 'off'}")
        self._stop_signal: int | None = None  # set by the signal handler; acted on between two steps
        self._in_step = False                 # model/optimizer may be half-updated while True

    # -- checkpoints -------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoints" / f"{self.phase}.pt" if self.run_dir else None

    def save(self) -> None:
        if self.checkpoint_path is None:
            return
        save_checkpoint(self.checkpoint_path, {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "state": self.state.__dict__, "fingerprint": self.fingerprint,
        })

    def resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        theirs = ckpt.get("fingerprint", {})
        for key, ours in self.fingerprint.items():
            if theirs.get(key) != ours:
                raise InputError(f"cannot resume from {path}: its {key} ({_short(theirs.get(key))}) differs from "
                                 f"this run's ({_short(ours)}); resume with the same video and configuration")
        saved = ckpt["optimizer"].get("param_groups", [])
        ours = self.optimizer.param_groups
        if [len(g["params"]) for g in saved] != [len(g["params"]) for g in ours]:
            raise InputError(f"cannot resume from {path}: its parameters learn in {plural(len(saved), 'group')} "
                             f"of their own rate, this run's in {len(ours)} (model.latent_lr_scale?); resume with the "
                             f"same configuration")
        if saved and ("lr2_sum" in saved[0]) != self.schedule_free:
            kinds = ("adam", "schedule_free")
            raise InputError(f"cannot resume from {path}: it was fitted with train.optimizer="
                             f"{kinds[not self.schedule_free]}, this run asks for {kinds[self.schedule_free]}; resume "
                             "with the same configuration")
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as e:  # a setting the fingerprint does not hold changed the tensors
            first = str(e).strip().splitlines()[-1].strip()
            raise InputError(f"cannot resume from {path}: its tensors differ from this run's ({first}); resume with "
                             "the same configuration") from None
        scales = [g["lr_scale"] for g in ours]
        self.optimizer.load_state_dict(ckpt["optimizer"])
        for group, scale in zip(self.optimizer.param_groups, scales):  # checkpoints from before lr_scale have none
            group["lr_scale"] = scale
        known = set(FitState.__dataclass_fields__)
        self.state = FitState(**{k: v for k, v in ckpt["state"].items() if k in known})
        if not 0 <= self.state.batch < self.steps_per_epoch:
            raise InputError(f"cannot resume from {path}: it stopped at batch {self.state.batch} of an epoch of "
                             f"{self.steps_per_epoch}; resume with the same train.batch_size")
        log.info("resumed from %s at epoch %d, batch %d", path, self.state.epoch, self.state.batch)

    # -- fitting ------------------------------------------------------------------------------
    def _epoch_order(self, epoch: int) -> torch.Tensor:
        # A generator seeded by (seed, epoch) makes the order independent of resumes.
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        return torch.randperm(len(self.frames), generator=g).to(self.frames.device)

    def _train_step(self, idx: torch.Tensor, lr: float) -> torch.Tensor:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        # Data-parallel: this rank's shard, its loss weighted by its share of the batch, the gradients
        # summed over ranks (all identity in a single process). Returns the shard's MSE x its frames.
        share, world = distributed.shard(idx), distributed.world_size()
        self.optimizer.zero_grad(set_to_none=True)
        loss = mse = torch.zeros((), device=self.frames.device)
        if len(share):
            target = self.frames.batch(share)
            if self.channels_last:
                target = target.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.frames.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                pred = self._forward(share, target)
            pred = pred.float()  # the loss and its statistics in fp32
            loss = self.loss_fn(self.frames.crop(pred), self.frames.crop(target)) * (len(share) / len(idx))
            mse = torch.mean((self.frames.crop(pred).detach() - self.frames.crop(target)) ** 2) * len(share)
        if self.extra_loss is not None:
            loss = loss + self.extra_loss(idx) / world
        if loss.requires_grad:
            loss.backward()
        distributed.all_reduce_grads([p for g in self.optimizer.param_groups for p in g["params"]])
        self.optimizer.step()
        return mse

    def _forward(self, idx: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not self.compiled:
            return self.forward(idx, target)
        try:
            return self.forward(idx, target)
        except Exception as e:  # compilation happens at the first calls; a failure there is the switch's fault
            if type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise accel.compile_failed(e) from None
            raise

    def _agreed(self, elapsed: float, budget: float | None) -> float:
        # Under a time budget the schedule follows the clock: every rank follows rank 0's.
        return distributed.from_main(elapsed, self.frames.device) if budget else elapsed

    # -- interruption ---------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:
            raise KeyboardInterrupt  # asked twice: stop now; the last checkpoint on disk stays intact
        self._stop_signal = signum   # finish the step in progress, then save and stop

    def _install_signal_handlers(self) -> dict:
        """SIGINT and SIGTERM set a flag that the loop reads between steps, so a checkpoint never
        holds a half-applied optimizer step. Only the main thread can own signal handlers."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):  # pragma: no cover - embedded interpreters
                pass
        return old

    def _interrupted(self, st: FitState, signum: int | None) -> FitInterrupted:
        what = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}.get(signum, "interrupted")
        where = f"{self.phase} epoch {st.epoch}, batch {st.batch} of {self.steps_per_epoch}"
        if self.checkpoint_path is None:
            return FitInterrupted(f"fit interrupted ({what}) at {where}; no run directory, so nothing was saved")
        if self._in_step:  # a second signal arrived mid-step: the state in memory is not consistent
            kept = "the last checkpoint" if self.checkpoint_path.is_file() else "nothing (no checkpoint yet)"
            return FitInterrupted(f"fit stopped ({what}, twice) during a step; kept {kept}; continue with: "
                                  f"inrcodec fit --resume {self.run_dir}")
        self.save()
        return FitInterrupted(f"fit interrupted ({what}) at {where}; checkpoint saved to {self.checkpoint_path}; "
                              f"continue with: inrcodec fit --resume {self.run_dir}")

    def _say(self, line: str | None, bar: FitBar) -> None:
        """A warning about the run (the budget forecast): fit.log, and above the bar on the terminal."""
        if not line:
            return
        log.warning("%s", line)
        if not bar.bar.disable:
            bar.bar.write(f"inrcodec: {line}", file=sys.stderr)

    # -- fitting ------------------------------------------------------------------------------
    def fit(self) -> FitState:
        """Fit until ``epochs`` (or the time budget). Resuming from a checkpoint continues at the
        exact batch it stopped at, so (without ``budget_s``, whose schedule follows the clock) a
        resumed CPU run ends with the same weights as an uninterrupted one."""
        cfg, st = self.cfg, self.state
        epochs = int(cfg.epochs)
        budget = float(cfg.budget_s) if cfg.budget_s else None
        total_steps = epochs * self.steps_per_epoch
        self.model.train()
        bar = FitBar(self.phase, epochs, self.steps_per_epoch, done_steps=st.epoch * self.steps_per_epoch + st.batch,
                     show=self.show_progress)
        forecast = BudgetForecast(self.phase, budget, epochs, self.steps_per_epoch) if budget else None
        start = time.perf_counter() - st.elapsed_s
        mse_sum = torch.zeros((), device=self.frames.device)
        self._stop_signal, self._in_step = None, False
        st.budget_ended = False
        distributed.broadcast_params(self.model)  # same init on every rank anyway (same seed)
        watch = for_device(self.frames.device)  # busy-machine line and thread governor (train/speed_watch.py)
        old_handlers = self._install_signal_handlers()
        try:
            while st.epoch < epochs:
                if st.batch == 0 and progress(st.step, total_steps, self._agreed(st.elapsed_s, budget), budget) >= 1.0:
                    st.budget_ended = True  # below epochs, only the budget's share of time makes it 1
                    break
                order = self._epoch_order(st.epoch)
                mse_sum = torch.full((), st.epoch_mse, dtype=torch.float32, device=self.frames.device)
                for b in range(st.batch, self.steps_per_epoch):
                    if self._stop_signal is not None:
                        raise _StopRequested
                    idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                    p = progress(st.step, total_steps, self._agreed(time.perf_counter() - start, budget), budget)
                    if budget and p >= 1.0:
                        st.budget_ended = True
                        break  # the time budget ends inside an epoch: stop here, not an epoch later
                    self._in_step = True
                    t_step = time.perf_counter()
                    if hasattr(self.extra_loss, "at"):  # a schedule of its own (the rate term's soft rounding)
                        self.extra_loss.at(p)
                    mse_sum += self._train_step(idx, learning_rate(p, cfg.lr, cfg.warmup, decay=not self.schedule_free))
                    st.step += 1
                    st.batch = b + 1
                    self._in_step = False
                    now = time.perf_counter()
                    report(watch, now - t_step, log=log, phase=self.phase, bar=bar.bar)
                    bar.step(progress(st.step, total_steps, now - start, budget), st.epoch, st.batch)
                    if forecast is not None:
                        self._say(forecast.step(st.step, now - start), bar)
                if st.batch < self.steps_per_epoch:  # left early for the budget
                    break
                st.epoch += 1
                st.batch, st.epoch_mse = 0, 0.0
                st.elapsed_s = time.perf_counter() - start
                if st.epoch % int(cfg.log_every) == 0 or st.epoch == epochs:
                    mse = distributed.all_reduce_sum(mse_sum).item() / len(self.frames)  # one sync per logged epoch
                    if not math.isfinite(mse):
                        raise InputError(f"the fit diverged at epoch {st.epoch} (loss is not finite); "
                                         f"lower train.lr (now {cfg.lr})")
                    psnr = -10.0 * math.log10(max(mse, 1e-12))
                    st.history.append((st.epoch, round(st.elapsed_s, 3), mse, round(psnr, 3)))
                    bar.epoch_stats(f"loss {mse:.2e}, psnr {psnr:.2f} dB, "
                                    f"{len(self.frames) / max(st.elapsed_s / st.epoch, 1e-9):.1f} fr/s")
                    log.info("epoch %d  %.1fs  mse %.3e  psnr %.2f dB  lr %.2e", st.epoch, st.elapsed_s, mse, psnr,
                             self.optimizer.param_groups[0]["lr"])
                if cfg.checkpoint_every and st.epoch % int(cfg.checkpoint_every) == 0:
                    self.save()
        except (KeyboardInterrupt, _StopRequested):
            st.elapsed_s = time.perf_counter() - start
            if st.batch:
                st.epoch_mse = float(mse_sum.item())
            bar.close()
            err = self._interrupted(st, self._stop_signal)
            log.info("%s", err)
            raise err from None
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        bar.close()
        st.elapsed_s = time.perf_counter() - start
        if self.schedule_free:
            self.optimizer.finalize()  # the averaged weights: what the file codes (the checkpoint keeps z and x too)
        self.save()
        self.model.eval()
        return st


def _short(value, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
