"""Video files (MP4, AVI, ...: how echocardiography datasets such as EchoNet-Dynamic ship their clips), decoded with
PyAV (FFmpeg's libraries). Nothing of the container's metadata (titles, comments, dates) is kept."""
from __future__ import annotations

from core.data.medical_image import MedicalImage


def looks_like_video(data: bytes) -> bool:
    """True for an ISO media file (MP4/MOV: 'ftyp' at byte 4), an AVI (RIFF....AVI ) or Matroska/WebM."""
    raise NotImplementedError


def read_video(data: bytes, name: str) -> MedicalImage:
    """Every frame of the first video stream: frames float32 (F, H, W) when grey, (F, H, W, 3) RGB 0-255 otherwise,
    format "video", frame_time_ms from the stream's average rate. Raises UserError for an unreadable file."""
    raise NotImplementedError
