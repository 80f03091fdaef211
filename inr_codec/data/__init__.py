from .frameset import FrameSet  # noqa: F401
