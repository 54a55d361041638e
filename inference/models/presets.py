"""Named SlowFast/Slow-only presets: the paper's Kinetics-400 models, its AVA models, `small` and
`small_slow`."""

from __future__ import annotations

from dataclasses import replace

from inference.models.slowfast import SlowFastConfig

AVA_ACTIONS = 80

# "T x tau" names give the Slow pathway's frames and temporal stride (DESIGN.md).
_SLOWFAST_R50_4X16 = SlowFastConfig(alpha=8, tau=16, num_frames=4, fusion_kernel=5)
_SLOWFAST_R50_8X8 = SlowFastConfig(alpha=4, tau=8, num_frames=8, fusion_kernel=7)
_SLOW_R50_4X16 = SlowFastConfig(pathways=1, alpha=1, tau=16, num_frames=4)
_SLOW_R50_8X8 = SlowFastConfig(pathways=1, alpha=1, tau=8, num_frames=8)
# One bottleneck per stage, a quarter of the channels, 4 Slow / 16 Fast frames at 128 pixels:
# trains on a CPU for tests and the demo. RoIAlign `aligned` since it is trained here.
_SMALL = SlowFastConfig(
    depth=14,
    width=16,
    alpha=4,
    tau=16,
    num_frames=4,
    fusion_kernel=5,
    head="detection",
    num_classes=AVA_ACTIONS,
    res5_dilation=2,
    aligned=True,
    crop_size=128,
)


def _ava(config: SlowFastConfig) -> SlowFastConfig:
    """AVA head as in the official checkpoints: dilated res5 (output stride 16), legacy RoIAlign."""
    return replace(
        config, head="detection", num_classes=AVA_ACTIONS, res5_dilation=2, aligned=False
    )


PRESETS: dict[str, SlowFastConfig] = {
    "slowfast_r50_4x16": _SLOWFAST_R50_4X16,
    "slowfast_r50_8x8": _SLOWFAST_R50_8X8,
    # The paper's R101 (106 GFLOPs, 53.7M parameters) keeps R50's temporal kernels: the first
    # 3, 4, 6, 3 blocks per stage, as PySlowFast's SLOWFAST_8x8_R101_50_50.
    "slowfast_r101_8x8": SlowFastConfig(
        depth=101,
        alpha=4,
        tau=8,
        num_frames=8,
        fusion_kernel=5,
        temporal_kernel_blocks=(3, 4, 6, 3),
    ),
    "slow_r50_4x16": _SLOW_R50_4X16,
    "slow_r50_8x8": _SLOW_R50_8X8,
    "slowfast_r50_8x8_ava": _ava(_SLOWFAST_R50_8X8),
    # PySlowFast's SLOWFAST_32x2_R101_50_50 (AVA): R50 temporal kernels, non-local blocks after
    # Slow res4 blocks 6, 13 and 20, 2x2x2 max-pooled keys and values.
    "slowfast_r101_nl_8x8_ava": _ava(
        SlowFastConfig(
            depth=101,
            alpha=4,
            tau=8,
            num_frames=8,
            fusion_kernel=5,
            temporal_kernel_blocks=(3, 4, 6, 3),
            nonlocal_blocks=((), (), (6, 13, 20), ()),
            nonlocal_pool=(2, 2, 2),
        )
    ),
    "slow_r50_4x16_ava": _ava(_SLOW_R50_4X16),
    "small": _SMALL,
    # `small`'s Slow pathway alone (no Fast pathway, no lateral connections): the Slow-only side
    # of the Figure-3 experiment (`python -m inference experiment slowfast-vs-slow`).
    "small_slow": replace(_SMALL, pathways=1, alpha=1),
}


def preset(name: str) -> SlowFastConfig:
    """The config of preset `name`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]
