from .trainer import FitInterrupted, FitState, Trainer  # noqa: F401
