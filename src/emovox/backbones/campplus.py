"""CAM++ (Wang et al., Interspeech 2023: "CAM++: A Fast and Efficient Network for Speaker
Verification Using Context-Aware Masking"), the speaker-verification network of 3D-Speaker, as a
PyTorch module to load its published checkpoint into and export to ONNX
(scripts/convert_backbones.py); predictions run the exported graph (`emovox.backbones.voiceprint`).

The network: a 2-D convolutional front (residual blocks over 80 fbank bands, the bands brought
down 8x), a time-delay layer halving the frame rate, three densely connected blocks of time-delay
layers each gated by a context-aware mask (a layer's output scaled by a sigmoid of the mean of its
input over the whole window plus over segments of 100 frames), mean and standard deviation over
time, and a linear layer to the 192-dimensional embedding with batch normalisation without scale
or shift. Submodule names follow the checkpoint's keys, so it loads with `load_state_dict`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CamPlusPlusConfig:
    """The checkpoint's dimensions (3D-Speaker's `speech_campplus_sv_zh_en_16k-common_advanced`)."""

    bands: int = 80
    embedding: int = 192
    growth: int = 32
    bottleneck: int = 128
    channels: int = 128
    blocks: tuple[tuple[int, int], ...] = ((12, 1), (24, 2), (16, 2))  # (layers, dilation)
    segment: int = 100  # frames of a context-aware mask's segment


def norm_relu(channels: int) -> nn.Sequential:
    """Batch normalisation then ReLU, named as the checkpoint names them."""
    layer = nn.Sequential()
    layer.add_module("batchnorm", nn.BatchNorm1d(channels))
    layer.add_module("relu", nn.ReLU())
    return layer


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut; `stride` brings the bands down."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class ConvFront(nn.Module):
    """(batch, bands, frames) -> (batch, 32 x bands / 8, frames)."""

    def __init__(self, bands: int, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(ResidualBlock(channels, 2), ResidualBlock(channels, 1))
        self.layer2 = nn.Sequential(ResidualBlock(channels, 2), ResidualBlock(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (bands // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.flatten(1, 2)


class TimeDelay(nn.Module):
    """A 1-D convolution (frames kept by padding) then batch normalisation and ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.linear = nn.Conv1d(
            channels_in, channels_out, kernel, stride=stride, padding=kernel // 2, bias=False
        )
        self.nonlinear = norm_relu(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class ContextMask(nn.Module):
    """A dilated convolution of the input, scaled per channel and frame by a sigmoid of the input's
    mean over the whole window plus its mean over the frame's segment. The mask is the same for
    every frame of a segment, so it is computed once per segment and then spread over its frames
    (the checkpoint's code computes it for every frame: the same numbers, more work)."""

    def __init__(self, channels_in: int, channels_out: int, dilation: int, segment: int) -> None:
        super().__init__()
        self.segment = segment
        self.linear_local = nn.Conv1d(
            channels_in, channels_out, 3, padding=dilation, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(channels_in, channels_in // 2, 1)
        self.linear2 = nn.Conv1d(channels_in // 2, channels_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = x.mean(-1, keepdim=True) + F.avg_pool1d(x, self.segment, self.segment, ceil_mode=True)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(x) * mask.repeat_interleave(self.segment, dim=-1)[..., : x.shape[-1]]


class DenseLayer(nn.Module):
    """One layer of a dense block: normalised, squeezed to the bottleneck, masked."""

    def __init__(self, channels_in: int, config: CamPlusPlusConfig, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = norm_relu(channels_in)
        self.linear1 = nn.Conv1d(channels_in, config.bottleneck, 1, bias=False)
        self.nonlinear2 = norm_relu(config.bottleneck)
        self.cam_layer = ContextMask(config.bottleneck, config.growth, dilation, config.segment)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class DenseBlock(nn.Module):
    """Layers each seeing the block's input and every earlier layer's output."""

    def __init__(self, layers: int, channels_in: int, config: CamPlusPlusConfig, dilation: int) -> None:
        super().__init__()
        for index in range(layers):
            self.add_module(
                f"tdnnd{index + 1}", DenseLayer(channels_in + index * config.growth, config, dilation)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transit(nn.Module):
    """Normalised, then halved in channels."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.nonlinear = norm_relu(channels_in)
        self.linear = nn.Conv1d(channels_in, channels_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class Embedding(nn.Module):
    """Mean and standard deviation over frames (`channels_in`: both together) to the embedding."""

    def __init__(self, channels_in: int, embedding: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(channels_in, embedding, 1, bias=False)
        self.nonlinear = nn.Sequential()
        self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(embedding, affine=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(2, keepdim=True)
        std = ((x - mean).square().sum(2, keepdim=True) / (x.shape[2] - 1)).sqrt()  # unbiased
        return self.nonlinear(self.linear(torch.cat([mean, std], dim=1))).squeeze(2)


class CamPlusPlus(nn.Module):
    """(batch, frames, bands) mean-normalised log fbank frames -> (batch, embedding)."""

    def __init__(self, config: CamPlusPlusConfig | None = None) -> None:
        super().__init__()
        config = config or CamPlusPlusConfig()
        self.head = ConvFront(config.bands)
        self.xvector = nn.Sequential()
        self.xvector.add_module("tdnn", TimeDelay(self.head.out_channels, config.channels, 5, stride=2))
        channels = config.channels
        for index, (layers, dilation) in enumerate(config.blocks, start=1):
            self.xvector.add_module(f"block{index}", DenseBlock(layers, channels, config, dilation))
            channels += layers * config.growth
            self.xvector.add_module(f"transit{index}", Transit(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", norm_relu(channels))
        self.xvector.add_module("dense", Embedding(2 * channels, config.embedding))

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(fbank.transpose(1, 2)))
