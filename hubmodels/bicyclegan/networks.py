"""BicycleGAN's networks (Zhu et al., NeurIPS 2017), with the math of the official junyanz/BicycleGAN code.

* :class:`UnetGenerator` with ``where_add="all"`` (the released models): a U-Net whose every level sees the
  latent code ``z`` tiled over the feature map and concatenated *after* the features, on the way down only
  (:class:`UnetBlockZ`). With ``where_add="input"`` (:class:`UnetBlock`) ``z`` is concatenated to the image
  only; with ``nz=0`` this is pix2pix's U-Net of the BicycleGAN repository.
* :class:`ResNetEncoder` and :class:`ConvEncoder`: map an output-domain image to the mean and log-variance of
  its latent code (two linear heads ``fc`` and ``fcVar`` on one pooled feature).
* :class:`MultiscaleDiscriminator`: ``num_D`` PatchGANs, scale ``i`` on the input average-pooled ``i`` times.

Parameter names are the official state-dict keys (``model.submodule.down.1.weight``, ``conv.1.shortcut.1.weight``,
``fcVar.0.bias``, ``model_1.3.weight``), so the released ``*_net_G.pth`` / ``*_net_E.pth`` load without renames.

Two details of the official code that change the numbers are reproduced on purpose:

* the skip connection of a block is the block's *input*, concatenated *after* the up-path output
  (``cat([up, x])``, the reverse of pix2pix's ``cat([x, up])``);
* where a block's first operation is the in-place ``LeakyReLU(0.2)`` of the official code applied to the
  block input itself (``where_add="input"``, or ``nz == 0``), the skip carries the activated input.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "NORMS", "NONLINEARITIES", "UPSAMPLES", "WHERE_ADD", "ENCODERS", "LRELU_SLOPE",
    "make_norm", "make_activation", "upsample_layers",
    "UnetBlockZ", "UnetBlock", "UnetGenerator", "BasicBlock", "ResNetEncoder", "ConvEncoder", "build_encoder",
    "encoder_input_size", "MultiscaleDiscriminator", "patch_layers",
]

NORMS = ("instance", "batch", "none")
NONLINEARITIES = ("relu", "lrelu", "elu")
UPSAMPLES = ("basic", "bilinear")
WHERE_ADD = ("all", "input")
ENCODERS = ("resnet", "conv")
LRELU_SLOPE = 0.2
_POOLED = 8  # the encoders end with AvgPool2d(8): their last feature map must be 8x8


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def make_norm(norm: str, channels: int) -> nn.Module | None:
    """``instance``: InstanceNorm2d without affine or running statistics (no state-dict keys, per-sample
    statistics in eval too); ``batch``: BatchNorm2d with affine and running statistics; ``none``: no layer."""
    _check_choice("norm", norm, NORMS)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    return None


def make_activation(nl: str) -> nn.Module:
    """The generator's up-path nonlinearity (``relu``, ``lrelu`` with slope 0.2, ``elu``)."""
    _check_choice("nl", nl, NONLINEARITIES)
    if nl == "relu":
        return nn.ReLU()
    if nl == "lrelu":
        return nn.LeakyReLU(LRELU_SLOPE)
    return nn.ELU()


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(LRELU_SLOPE)


def upsample_layers(in_ch: int, out_ch: int, upsample: str) -> list[nn.Module]:
    """2x upsampling: ``basic`` = ConvTranspose2d(4, stride 2, pad 1); ``bilinear`` = bilinear 2x, reflection
    pad 1, Conv2d 3x3."""
    _check_choice("upsample", upsample, UPSAMPLES)
    if upsample == "basic":
        return [nn.ConvTranspose2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1)]
    return [nn.Upsample(scale_factor=2, mode="bilinear"), nn.ReflectionPad2d(1),
            nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=1, padding=0)]


def _with(*layers: nn.Module | None) -> list[nn.Module]:
    return [m for m in layers if m is not None]


def tile_z(z: Tensor, x: Tensor) -> Tensor:
    """``z`` (N, nz) broadcast to (N, nz, H, W) of ``x``."""
    if z.dim() != 2 or z.shape[0] != x.shape[0]:
        raise ValueError(f"z must have shape (N, nz) with N = {x.shape[0]} (one code per image), got {tuple(z.shape)}")
    return z.view(z.shape[0], z.shape[1], 1, 1).expand(z.shape[0], z.shape[1], x.shape[2], x.shape[3])


# ---------------------------------------------------------------------------------------------
# generator


class UnetBlockZ(nn.Module):
    """One U-Net level that takes ``z`` at its input (the official ``UnetBlock_with_z``).

    ``down``: [LeakyReLU(0.2)], Conv 4x4 stride 2 on ``cat([x, z])``, [norm]; ``up``: nonlinearity, 2x
    upsampling, then Tanh (outermost) or [norm] [Dropout(0.5)]. The outermost level has no activation or norm
    on the way down, the innermost no norm on the way down and no submodule. Levels below the outermost return
    ``cat([up(...), x])``.
    """

    def __init__(self, input_nc: int, outer_nc: int, inner_nc: int, nz: int = 0, submodule: nn.Module | None = None,
                 *, outermost: bool = False, innermost: bool = False, norm: str = "instance", nl: str = "relu",
                 use_dropout: bool = False, upsample: str = "basic"):
        super().__init__()
        self.outermost, self.innermost, self.nz = outermost, innermost, nz
        conv = nn.Conv2d(input_nc + nz, inner_nc, kernel_size=4, stride=2, padding=1)
        if outermost:
            down = [conv]
            up = [make_activation(nl), *upsample_layers(inner_nc * 2, outer_nc, upsample), nn.Tanh()]
        elif innermost:
            down = [_lrelu(), conv]
            up = _with(make_activation(nl), *upsample_layers(inner_nc, outer_nc, upsample), make_norm(norm, outer_nc))
        else:
            down = _with(_lrelu(), conv, make_norm(norm, inner_nc))
            up = _with(make_activation(nl), *upsample_layers(inner_nc * 2, outer_nc, upsample),
                       make_norm(norm, outer_nc), nn.Dropout(0.5) if use_dropout else None)
        self.down = nn.Sequential(*down)
        self.submodule = submodule
        self.up = nn.Sequential(*up)

    def forward(self, x: Tensor, z: Tensor | None) -> Tensor:
        x_and_z = torch.cat([x, tile_z(z, x)], 1) if self.nz > 0 else x
        if self.outermost:
            return self.up(self.submodule(self.down(x_and_z), z))
        if self.innermost:
            y = self.up(self.down(x_and_z))
        else:
            y = self.up(self.submodule(self.down(x_and_z), z))
        # without z the official in-place LeakyReLU of `down` acted on x itself: the skip carries it
        skip = self.down[0](x) if self.nz == 0 else x
        return torch.cat([y, skip], 1)


class UnetBlock(nn.Module):
    """One U-Net level of the ``where_add="input"`` generator (the official ``UnetBlock``): one Sequential
    ``model`` = down + [submodule] + up, with the layers of :class:`UnetBlockZ` but no ``z``.

    Levels below the outermost return ``cat([model(x), LeakyReLU(x)])``: the official block applies its first
    LeakyReLU in place to its input, so the skip connection carries the activated input.
    """

    def __init__(self, input_nc: int, outer_nc: int, inner_nc: int, submodule: nn.Module | None = None, *,
                 outermost: bool = False, innermost: bool = False, norm: str = "instance", nl: str = "relu",
                 use_dropout: bool = False, upsample: str = "basic"):
        super().__init__()
        self.outermost, self.innermost = outermost, innermost
        conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1)
        if outermost:
            layers = [conv, submodule, make_activation(nl), *upsample_layers(inner_nc * 2, outer_nc, upsample),
                      nn.Tanh()]
        elif innermost:
            layers = _with(_lrelu(), conv, make_activation(nl), *upsample_layers(inner_nc, outer_nc, upsample),
                           make_norm(norm, outer_nc))
        else:
            layers = _with(_lrelu(), conv, make_norm(norm, inner_nc), submodule, make_activation(nl),
                           *upsample_layers(inner_nc * 2, outer_nc, upsample), make_norm(norm, outer_nc),
                           nn.Dropout(0.5) if use_dropout else None)
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        h = self.model[0](x)  # LeakyReLU(0.2): also what the skip carries
        y = h
        for layer in self.model[1:]:
            y = layer(y)
        return torch.cat([y, h], 1)


class UnetGenerator(nn.Module):
    """The BicycleGAN generator ``G(x, z)``: a U-Net of ``num_downs`` stride-2 levels.

    Widths: ``ngf``, ``2 ngf``, ``4 ngf``, then ``8 ngf`` for every deeper level; with ``num_downs`` levels
    a ``2**num_downs`` image reaches 1x1 at the bottleneck (``unet_128``: 7, ``unet_256``: 8), but the network
    is fully convolutional. Dropout (training only) sits on the ``8 ngf`` levels above the innermost.

    ``where_add="all"`` (``G_Unet_add_all``) needs ``num_downs >= 6``, ``"input"`` (``G_Unet_add_input``)
    ``num_downs >= 5``; ``nz=0`` makes a deterministic pix2pix generator (official: always ``"input"``).
    """

    def __init__(self, input_nc: int, output_nc: int, nz: int = 8, num_downs: int = 8, ngf: int = 64, *,
                 norm: str = "instance", nl: str = "relu", use_dropout: bool = False, upsample: str = "basic",
                 where_add: str = "all"):
        super().__init__()
        _check_choice("where_add", where_add, WHERE_ADD)
        _check_choice("norm", norm, NORMS)
        _check_choice("nl", nl, NONLINEARITIES)
        _check_choice("upsample", upsample, UPSAMPLES)
        low = 6 if where_add == "all" else 5
        if num_downs < low:
            raise ValueError(f"num_downs must be >= {low} for where_add={where_add!r}, got {num_downs}")
        self.nz, self.where_add, self.num_downs = nz, where_add, num_downs
        kw = dict(norm=norm, nl=nl, upsample=upsample)
        w = ngf * 8
        if where_add == "all":
            def block(i, o, inner, sub, **extra):
                return UnetBlockZ(i, o, inner, nz, sub, **kw, **extra)

            net = block(w, w, w, None, innermost=True)
            for _ in range(num_downs - 5):  # the official second-innermost level plus num_downs - 6 more
                net = block(w, w, w, net, use_dropout=use_dropout)
            net = block(ngf * 4, ngf * 4, w, net)
            net = block(ngf * 2, ngf * 2, ngf * 4, net)
            net = block(ngf, ngf, ngf * 2, net)
            net = block(input_nc, output_nc, ngf, net, outermost=True)
        else:
            def block(i, o, inner, sub, **extra):
                return UnetBlock(i, o, inner, sub, **kw, **extra)

            net = block(w, w, w, None, innermost=True)
            for _ in range(num_downs - 5):
                net = block(w, w, w, net, use_dropout=use_dropout)
            net = block(ngf * 4, ngf * 4, w, net)
            net = block(ngf * 2, ngf * 2, ngf * 4, net)
            net = block(ngf, ngf, ngf * 2, net)
            net = block(input_nc + nz, output_nc, ngf, net, outermost=True)
        self.model = net

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        if self.nz > 0 and z is None:
            raise ValueError(f"this generator takes a latent code z of shape (N, {self.nz})")
        if self.where_add == "all":
            return self.model(x, z)
        if self.nz > 0:
            x = torch.cat([x, tile_z(z, x)], 1)
        return self.model(x)


# ---------------------------------------------------------------------------------------------
# encoders


class BasicBlock(nn.Module):
    """Residual block of the ResNet encoder, halving the resolution.

    ``conv``: [norm], LeakyReLU, 3x3 conv (in -> in), [norm], LeakyReLU, (3x3 conv (in -> out), AvgPool 2);
    ``shortcut``: (AvgPool 2, 1x1 conv (in -> out)); output is their sum.
    """

    def __init__(self, inplanes: int, outplanes: int, norm: str = "instance"):
        super().__init__()
        conv = _with(make_norm(norm, inplanes), _lrelu(), nn.Conv2d(inplanes, inplanes, 3, 1, 1),
                     make_norm(norm, inplanes), _lrelu(),
                     nn.Sequential(nn.Conv2d(inplanes, outplanes, 3, 1, 1), nn.AvgPool2d(2, 2)))
        self.conv = nn.Sequential(*conv)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(inplanes, outplanes, 1, 1, 0))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.shortcut(x)


class _VAEHeads(nn.Module):
    """The pooled feature -> (mu, logvar) heads shared by both encoders."""

    fc: nn.Sequential
    fcVar: nn.Sequential  # noqa: N815 - the official state-dict name
    conv: nn.Sequential
    input_size: int

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.conv(x)
        if h.shape[-2:] != (1, 1):
            raise ValueError(f"this encoder takes {self.input_size}x{self.input_size} images (its feature map must "
                             f"be 8x8 before the final 8x8 average pool), got {tuple(x.shape[-2:])}")
        h = h.flatten(1)
        return self.fc(h), self.fcVar(h)


class ResNetEncoder(_VAEHeads):
    """The official ``E_ResNet`` with VAE heads: 4x4 stride-2 conv, ``n_blocks - 1`` :class:`BasicBlock` s
    (widths ``nef * min(4, i)`` -> ``nef * min(4, i + 1)``), LeakyReLU, AvgPool 8, then ``fc`` -> mu and
    ``fcVar`` -> logvar. Input ``8 * 2**n_blocks`` pixels (``resnet_128``: 4 blocks, ``resnet_256``: 5)."""

    def __init__(self, input_nc: int = 3, nz: int = 8, nef: int = 64, n_blocks: int = 5, norm: str = "instance"):
        super().__init__()
        if n_blocks < 2:
            raise ValueError(f"a ResNet encoder needs n_blocks >= 2, got {n_blocks}")
        self.input_size = encoder_input_size("resnet", n_blocks)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, nef, 4, 2, 1)]
        for n in range(1, n_blocks):
            layers.append(BasicBlock(nef * min(4, n), nef * min(4, n + 1), norm))
        layers += [_lrelu(), nn.AvgPool2d(_POOLED)]
        width = nef * min(4, n_blocks)
        self.fc = nn.Sequential(nn.Linear(width, nz))
        self.fcVar = nn.Sequential(nn.Linear(width, nz))
        self.conv = nn.Sequential(*layers)


class ConvEncoder(_VAEHeads):
    """The official ``E_NLayers`` with VAE heads: ``n_layers`` 4x4 stride-2 convs (widths ``nef * min(2**n, 4)``,
    [norm] and LeakyReLU after each but the first's norm), AvgPool 8, ``fc`` / ``fcVar``. Input
    ``8 * 2**n_layers`` pixels (``conv_128``: 4 layers, ``conv_256``: 5)."""

    def __init__(self, input_nc: int = 3, nz: int = 8, nef: int = 64, n_layers: int = 5, norm: str = "instance"):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"a conv encoder needs n_layers >= 1, got {n_layers}")
        self.input_size = encoder_input_size("conv", n_layers)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, nef, 4, 2, 1), _lrelu()]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 4)
            layers += _with(nn.Conv2d(nef * prev, nef * mult, 4, 2, 1), make_norm(norm, nef * mult), _lrelu())
        layers.append(nn.AvgPool2d(_POOLED))
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(nef * mult, nz))
        self.fcVar = nn.Sequential(nn.Linear(nef * mult, nz))


def encoder_input_size(kind: str, depth: int) -> int:
    """The image size an encoder takes: every block / layer halves it, down to the final 8x8 pool."""
    _check_choice("encoder", kind, ENCODERS)
    return _POOLED * 2 ** depth


def build_encoder(kind: str, input_nc: int, nz: int, nef: int, depth: int, norm: str) -> _VAEHeads:
    _check_choice("encoder", kind, ENCODERS)
    if kind == "resnet":
        return ResNetEncoder(input_nc, nz, nef, n_blocks=depth, norm=norm)
    return ConvEncoder(input_nc, nz, nef, n_layers=depth, norm=norm)


# ---------------------------------------------------------------------------------------------
# discriminator


def patch_layers(input_nc: int, ndf: int, n_layers: int, norm: str) -> list[nn.Module]:
    """One PatchGAN: Conv4s2 + LReLU, ``n_layers - 1`` x (Conv4s2, [norm], LReLU), Conv4s1 + [norm] + LReLU,
    Conv4s1 -> 1 channel (raw logits); widths ``ndf * min(2**n, 8)``, every conv with bias."""
    layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), _lrelu()]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        layers += _with(nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1), make_norm(norm, ndf * mult), _lrelu())
    prev, mult = mult, min(2 ** n_layers, 8)
    layers += _with(nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1), make_norm(norm, ndf * mult), _lrelu())
    layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
    return layers


class MultiscaleDiscriminator(nn.Module):
    """The official ``D_NLayersMulti``: ``num_D`` PatchGANs; scale ``i`` has ``round(ndf / 2**i)`` base filters and
    sees the input average-pooled (3x3, stride 2, pad 1, padding not counted) ``i`` times.

    ``forward`` returns the list of patch maps, one per scale. State-dict keys are ``model.*`` for one scale and
    ``model_0.*``, ``model_1.*``, ... for several. ``basic_128_multi``: ``n_layers=2``; ``basic_256_multi``: 3.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance", num_D: int = 2):
        super().__init__()
        if num_D < 1 or n_layers < 1:
            raise ValueError(f"num_D and n_layers must be >= 1, got {num_D} and {n_layers}")
        self.num_D = num_D
        if num_D == 1:
            self.model = nn.Sequential(*patch_layers(input_nc, ndf, n_layers, norm))
        else:
            for i in range(num_D):
                # Python's round (half to even), as the official int(round(ndf / 2**i))
                self.add_module(f"model_{i}", nn.Sequential(*patch_layers(input_nc, int(round(ndf / 2 ** i)),
                                                                          n_layers, norm)))
            self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def scales(self) -> list[nn.Module]:
        return [self.model] if self.num_D == 1 else [getattr(self, f"model_{i}") for i in range(self.num_D)]

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for i, net in enumerate(self.scales()):
            if i > 0:
                x = self.down(x)
            outs.append(net(x))
        return outs
