from .msssim import ms_ssim, ssim  # noqa: F401
from .psnr import PSNR_CAP, frame_mse, psnr_from_mse, video_psnr  # noqa: F401
