"""SlowFast networks: config, presets and builder."""

from inference.models.presets import PRESETS, preset
from inference.models.slowfast import SlowFast, SlowFastConfig, build_model, detection_loss

__all__ = ["PRESETS", "SlowFast", "SlowFastConfig", "build_model", "detection_loss", "preset"]
