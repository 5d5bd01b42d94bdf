"""Image enhancement without training: classical denoising, contrast, sharpening, upscaling, tiling and export."""
