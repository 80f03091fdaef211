"""inrcodec: compress a video into a small neural network stored in one file."""

__version__ = "0.1.0"
