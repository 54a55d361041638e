"""SlowFast and Slow-only ResNets (Feichtenhofer et al., ICCV 2019) with clip and AVA RoI heads.

Layout follows Table 1 of the paper: a Slow pathway (T frames, stem 1x7x7, temporal kernel 3 only
in res4 and res5) and a Fast pathway (alpha*T frames, beta*C channels, stem 5x7x7, temporal kernel
3 in every stage), no temporal downsampling, and lateral Fast->Slow connections after pool1, res2,
res3 and res4. A Slow-only network is the Slow pathway alone (`pathways=1`, `alpha=1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

# Bottleneck blocks per stage (res2..res5) for each supported depth; 14 and 26 are the small
# settings used for CPU tests and demos.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    14: (1, 1, 1, 1),
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
}
HEADS = ("classification", "detection")
STAGE_NAMES = ("res2", "res3", "res4", "res5")
# Temporal kernel of the first bottleneck conv per stage (res2..res5), Table 1 of the paper.
SLOW_TEMPORAL_KERNELS = (1, 1, 3, 3)
FAST_TEMPORAL_KERNELS = (3, 3, 3, 3)
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class SlowFastConfig:
    """Architecture and head of a SlowFast (`pathways=2`) or Slow-only (`pathways=1`) network."""

    depth: int = 50
    pathways: int = 2
    alpha: int = 4  # speed ratio: Fast frames per Slow frame (1 for Slow-only)
    beta_inv: int = 8  # channel ratio: Fast channels = Slow channels / beta_inv
    tau: int = 8  # Slow temporal stride in frames of the 30 fps source
    num_frames: int = 8  # T, frames of the Slow pathway
    fusion_kernel: int = 7
    fusion_channel_ratio: int = 2
    width: int = 64  # Slow stem channels; stage widths are 4, 8, 16, 32 times this
    # Leading blocks per stage that get the stage's temporal kernel 3 (None: all blocks);
    # PySlowFast's "R101_50_50" models use (3, 4, 6, 3).
    temporal_kernel_blocks: tuple[int, int, int, int] | None = None
    # Slow pathway blocks (0-based, per stage res2..res5) followed by a non-local block.
    nonlocal_blocks: tuple[tuple[int, ...], ...] = ((), (), (), ())
    nonlocal_pool: tuple[int, int, int] = (2, 2, 2)
    head: str = "classification"
    num_classes: int = 400
    dropout: float = 0.5
    res5_dilation: int = 1  # 2: res5 keeps stride 1 and dilates, output stride 16 (detection)
    roi_output: int = 7
    aligned: bool = True  # torchvision roi_align `aligned`; official AVA checkpoints use False
    crop_size: int = 256  # short side / crop the preset expects at test time

    def __post_init__(self) -> None:
        if self.depth not in STAGE_BLOCKS:
            raise ValueError(
                f"unsupported depth {self.depth}; expected one of {list(STAGE_BLOCKS)}"
            )
        if self.pathways not in (1, 2):
            raise ValueError(f"unsupported pathways {self.pathways}; expected 1 or 2")
        if self.pathways == 1 and self.alpha != 1:
            raise ValueError(f"unsupported alpha {self.alpha} for a Slow-only network; use 1")
        if self.pathways == 2 and self.alpha < 2:
            raise ValueError(f"unsupported alpha {self.alpha} for SlowFast; expected >= 2")
        if self.width % self.beta_inv or self.beta_inv < 1:
            raise ValueError(f"unsupported beta_inv {self.beta_inv} for width {self.width}")
        if self.fusion_kernel < 1 or self.fusion_kernel % 2 == 0:
            raise ValueError(f"unsupported fusion_kernel {self.fusion_kernel}; expected odd")
        if self.head not in HEADS:
            raise ValueError(f"unsupported head {self.head!r}; expected one of {HEADS}")
        if self.res5_dilation not in (1, 2):
            raise ValueError(f"unsupported res5_dilation {self.res5_dilation}; expected 1 or 2")
        if self.num_classes < 1:
            raise ValueError(f"unsupported num_classes {self.num_classes}")
        if self.tau < 1 or self.num_frames < 1:
            raise ValueError(f"unsupported tau {self.tau} / num_frames {self.num_frames}")
        blocks = STAGE_BLOCKS[self.depth]
        if self.temporal_kernel_blocks is not None and (
            len(self.temporal_kernel_blocks) != 4
            or any(
                not 0 <= n <= b for n, b in zip(self.temporal_kernel_blocks, blocks, strict=True)
            )
        ):
            raise ValueError(f"unsupported temporal_kernel_blocks {self.temporal_kernel_blocks}")
        if len(self.nonlocal_blocks) != 4 or any(
            not 0 <= i < b
            for stage, b in zip(self.nonlocal_blocks, blocks, strict=True)
            for i in stage
        ):
            raise ValueError(f"unsupported nonlocal_blocks {self.nonlocal_blocks}")

    @property
    def stage_blocks(self) -> tuple[int, int, int, int]:
        """Bottleneck blocks in res2..res5."""
        return STAGE_BLOCKS[self.depth]

    @property
    def spatial_scale(self) -> float:
        """Feature-map pixels per clip pixel at res5 (1/32, or 1/16 with a dilated res5)."""
        return self.res5_dilation / 32


# --- helpers -----------------------------------------------------------------------------------


class Conv3d(nn.Conv3d):
    """A 3D convolution that runs kernels spanning only space, only time or neither in 2D.

    On a channels-last (N, C, T, H, W) tensor, (N*T, C, H, W) and (N, C, T, H*W) are views, also
    channels-last: a 1xkxk kernel is a 2D convolution over the first, a kx1x1 kernel one over the
    second, and a 1x1x1 kernel a matrix product. Same weights and results as nn.Conv3d; CPU
    libraries are much better tuned for 2D convolutions than for 3D ones.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups != 1 or isinstance(self.padding, str):
            return super().forward(x)
        n, c, t, h, w = x.shape
        (kt, kh, kw), (st, sh, sw) = self.kernel_size, self.stride
        (pt, ph, pw), (dt, dh, dw) = self.padding, self.dilation
        if (kt, kh, kw) == (1, 1, 1) and (pt, ph, pw) == (0, 0, 0):
            if (st, sh, sw) != (1, 1, 1):
                x = x[:, :, ::st, ::sh, ::sw]
            # (N, T, H, W, C) @ (C, C_out): a plain matrix product on the channels-last memory.
            y = F.linear(x.permute(0, 2, 3, 4, 1), self.weight.flatten(1), self.bias)
            return y.permute(0, 4, 1, 2, 3)
        if kt == 1 and st == 1 and pt == 0:
            frames = x.transpose(1, 2).reshape(n * t, c, h, w)  # (N*T, C, H, W)
            y = F.conv2d(frames, self.weight.squeeze(2), self.bias, (sh, sw), (ph, pw), (dh, dw))
            return y.reshape(n, t, *y.shape[1:]).transpose(1, 2)
        if (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
            pixels = x.reshape(n, c, t, h * w)  # (N, C, T, H*W)
            y = F.conv2d(pixels, self.weight.flatten(3), self.bias, (st, 1), (pt, 0), (dt, 1))
            return y.reshape(n, -1, y.shape[2], h, w)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _temporal_kernels(config: SlowFastConfig, pathway: int, stage: int) -> list[int]:
    kernel = (SLOW_TEMPORAL_KERNELS, FAST_TEMPORAL_KERNELS)[pathway][stage]
    blocks = config.stage_blocks[stage]
    with_kernel = (
        blocks if config.temporal_kernel_blocks is None else config.temporal_kernel_blocks[stage]
    )
    return [kernel if i < with_kernel else 1 for i in range(blocks)]


# --- blocks ------------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    """ResNet bottleneck Tx1x1 -> 1x3x3 (spatial stride, dilation) -> 1x1x1 with a residual."""

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        temporal_kernel: int,
        stride: int,
        dilation: int,
    ) -> None:
        super().__init__()
        self.conv1 = Conv3d(
            in_channels,
            inner_channels,
            (temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            bias=False,
        )
        self.bn1 = _bn(inner_channels)
        self.conv2 = Conv3d(
            inner_channels,
            inner_channels,
            (1, 3, 3),
            stride=(1, stride, stride),
            padding=(0, dilation, dilation),
            dilation=(1, dilation, dilation),
            bias=False,
        )
        self.bn2 = _bn(inner_channels)
        self.conv3 = Conv3d(inner_channels, out_channels, 1, bias=False)
        self.bn3 = _bn(out_channels)
        self.downsample: nn.Sequential | None = None
        if in_channels != out_channels or stride != 1:
            self.downsample = nn.Sequential(
                Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False),
                _bn(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity, inplace=True)


class NonLocal(nn.Module):
    """Non-local block, dot-product instantiation, keys and values max-pooled by `pool`."""

    def __init__(self, channels: int, inner_channels: int, pool: tuple[int, int, int]) -> None:
        super().__init__()
        self.theta = Conv3d(channels, inner_channels, 1)
        self.phi = Conv3d(channels, inner_channels, 1)
        self.g = Conv3d(channels, inner_channels, 1)
        self.out = Conv3d(inner_channels, channels, 1)
        self.bn = _bn(channels)
        self.pool = tuple(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape
        query = self.theta(x).flatten(2)  # (B, C', THW)
        pooled = F.max_pool3d(x, self.pool, self.pool) if max(self.pool) > 1 else x
        key = self.phi(pooled).flatten(2)  # (B, C', N)
        value = self.g(pooled).flatten(2)  # (B, C', N)
        # Dot-product instantiation: affinities divided by the number of key positions.
        affinity = torch.bmm(query.transpose(1, 2), key) / key.shape[-1]  # (B, THW, N)
        response = torch.bmm(value, affinity.transpose(1, 2))  # (B, C', THW)
        response = response.reshape(b, -1, t, h, w)
        return x + self.bn(self.out(response))


class Stage(nn.Module):
    """One res stage of one pathway: bottlenecks, each optionally followed by a non-local block."""

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        temporal_kernels: list[int],
        stride: int,
        dilation: int,
        nonlocal_blocks: tuple[int, ...] = (),
        nonlocal_pool: tuple[int, int, int] = (2, 2, 2),
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            Bottleneck(
                in_channels if i == 0 else out_channels,
                inner_channels,
                out_channels,
                kernel,
                stride if i == 0 else 1,
                dilation,
            )
            for i, kernel in enumerate(temporal_kernels)
        )
        self.nonlocals = nn.ModuleDict(
            {
                str(i): NonLocal(out_channels, out_channels // 2, nonlocal_pool)
                for i in nonlocal_blocks
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.nonlocals:
                x = self.nonlocals[str(i)](x)
        return x


class Lateral(nn.Module):
    """Fast->Slow lateral connection: time-strided k x 1 x 1 conv, BN, ReLU."""

    def __init__(self, fast_channels: int, channel_ratio: int, kernel: int, alpha: int) -> None:
        super().__init__()
        self.conv = Conv3d(
            fast_channels,
            fast_channels * channel_ratio,
            (kernel, 1, 1),
            stride=(alpha, 1, 1),
            padding=(kernel // 2, 0, 0),
            bias=False,
        )
        self.bn = _bn(fast_channels * channel_ratio)

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(fast)), inplace=True)


# --- stem --------------------------------------------------------------------------------------


class Stem(nn.Module):
    """conv1 (T x 7 x 7, spatial stride 2), BN, ReLU, pool1 (1x3x3 max, spatial stride 2)."""

    def __init__(self, out_channels: int, temporal_kernel: int) -> None:
        super().__init__()
        self.conv = Conv3d(
            3,
            out_channels,
            (temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
        )
        self.bn = _bn(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)), inplace=True)
        return F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))


class Pathway(nn.Module):
    """Stem and res2..res5 of the Slow or the Fast pathway."""

    def __init__(self, config: SlowFastConfig, fast: bool) -> None:
        super().__init__()
        pathway = int(fast)
        divisor = config.beta_inv if fast else 1
        width = config.width // divisor
        # The Slow pathway receives 2*beta*C extra channels from each lateral connection.
        lateral = 0
        if config.pathways == 2 and not fast:
            lateral = config.fusion_channel_ratio * config.width // config.beta_inv
        self.stem = Stem(width, 5 if fast else 1)
        in_channels = width + lateral
        for stage, name in enumerate(STAGE_NAMES):
            out_channels = width * 4 * 2**stage
            last = stage == 3
            self.add_module(
                name,
                Stage(
                    in_channels,
                    width * 2**stage,
                    out_channels,
                    _temporal_kernels(config, pathway, stage),
                    stride=1 if stage == 0 or (last and config.res5_dilation == 2) else 2,
                    dilation=config.res5_dilation if last else 1,
                    nonlocal_blocks=() if fast else config.nonlocal_blocks[stage],
                    nonlocal_pool=config.nonlocal_pool,
                ),
            )
            in_channels = out_channels + lateral * 4 * 2**stage
        self.out_channels = width * 32


# --- model -------------------------------------------------------------------------------------


class SlowFast(nn.Module):
    """SlowFast/Slow-only backbone with a clip-classification or an AVA RoI-detection head."""

    def __init__(self, config: SlowFastConfig) -> None:
        super().__init__()
        self.config = config
        self.slow = Pathway(config, fast=False)
        self.fast = Pathway(config, fast=True) if config.pathways == 2 else None
        self.laterals = nn.ModuleList()
        if self.fast is not None:
            for stage in range(4):  # after pool1, res2, res3, res4
                fast_channels = (
                    config.width // config.beta_inv * (4 * 2 ** (stage - 1) if stage else 1)
                )
                self.laterals.append(
                    Lateral(
                        fast_channels,
                        config.fusion_channel_ratio,
                        config.fusion_kernel,
                        config.alpha,
                    )
                )
        features = self.slow.out_channels + (self.fast.out_channels if self.fast else 0)
        self.dropout = nn.Dropout(config.dropout)
        self.proj = nn.Linear(features, config.num_classes)
        self._init_weights()
        # Channels-last: the layout in which Conv3d's 2D views cost no copy, and the one
        # oneDNN and cuDNN prefer.
        self.to(memory_format=torch.channels_last_3d)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def _check_inputs(self, inputs: list[torch.Tensor]) -> None:
        if len(inputs) != self.config.pathways:
            raise ValueError(f"expected {self.config.pathways} pathway tensors, got {len(inputs)}")
        for x in inputs:
            if x.dim() != 5 or x.shape[1] != 3:
                raise ValueError(f"expected (B, 3, T, H, W) pathway tensors, got {tuple(x.shape)}")
        if len(inputs) == 2 and inputs[1].shape[2] != inputs[0].shape[2] * self.config.alpha:
            raise ValueError(
                f"Fast frames {inputs[1].shape[2]} != alpha {self.config.alpha} x Slow frames "
                f"{inputs[0].shape[2]}"
            )

    def forward_features(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """res5 feature maps per pathway, each (B, C, T, H/32, W/32) (H/16 with a dilated res5)."""
        self._check_inputs(inputs)
        slow = self.slow.stem(inputs[0].contiguous(memory_format=torch.channels_last_3d))
        if self.fast is None:
            for name in STAGE_NAMES:
                slow = getattr(self.slow, name)(slow)
            return [slow]
        fast = self.fast.stem(inputs[1].contiguous(memory_format=torch.channels_last_3d))
        for lateral, name in zip(self.laterals, STAGE_NAMES, strict=True):
            slow = torch.cat([slow, lateral(fast)], dim=1)  # (B, C_slow + 2*beta*C, T, H, W)
            slow = getattr(self.slow, name)(slow)
            fast = getattr(self.fast, name)(fast)
        return [slow, fast]

    def forward_head(
        self, features: list[torch.Tensor], boxes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits: (B, classes) for classification, (N, classes) per box for detection."""
        if self.config.head == "classification":
            pooled = torch.cat([f.mean(dim=(2, 3, 4)) for f in features], dim=1)  # (B, C)
            return self.proj(self.dropout(pooled))
        if boxes is None or boxes.dim() != 2 or boxes.shape[1] != 5:
            shape = None if boxes is None else tuple(boxes.shape)
            raise ValueError(f"detection needs boxes of shape (N, 5), got {shape}")
        # Temporal average per pathway, then RoIAlign on the concatenated channels: RoIAlign works
        # channel by channel, so this equals pooling each pathway separately.
        frame = torch.cat([f.mean(dim=2) for f in features], dim=1)  # (B, C, H, W)
        regions = roi_align(
            frame,
            boxes.to(frame.dtype),
            output_size=self.config.roi_output,
            spatial_scale=self.config.spatial_scale,
            sampling_ratio=0,
            aligned=self.config.aligned,
        )  # (N, C, 7, 7)
        pooled = regions.amax(dim=(2, 3))  # (N, C)
        return self.proj(self.dropout(pooled))

    def forward(
        self, inputs: list[torch.Tensor], boxes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Classification: (B, classes) logits; detection: (N, classes) sigmoid probabilities."""
        logits = self.forward_head(self.forward_features(inputs), boxes)
        return logits.sigmoid() if self.config.head == "detection" else logits


# --- builders ----------------------------------------------------------------------------------


def build_model(config: SlowFastConfig) -> SlowFast:
    """A freshly initialised network for `config`."""
    return SlowFast(config)


def detection_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Multi-label AVA loss on logits (BCE-with-logits is safe under autocast, BCE is not)."""
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
