from .bdrate import bd_psnr, bd_rate  # noqa: F401
from .msssim import ms_ssim, ssim  # noqa: F401
from .psnr import (PSNR_CAP, frame_mse, frame_mse_yuv, frame_psnr_yuv, psnr_from_mse,  # noqa: F401
                   rgb_to_yuv444, video_psnr)
