"""Reversible module swaps: the exact inference rewrites, applied to a model without touching its weights.

A fast module class subclasses the paper module it replaces, adds no parameters or buffers and computes the
same function (up to float rounding) through a fused op of :mod:`hubmodels.nn.ops`. Swapping changes an
instance's class in place (``module.__class__ = Fast``), so the module keeps its ``__dict__``: the same
Parameter objects, the same ``state_dict()`` keys and values, the same hooks. :func:`unswap_modules` restores
the original classes. A family lists its swaps as ``{paper class: fast class}`` on its model class
(``HubModel.inference_swaps``); :meth:`HubModel.optimize_for_inference` applies them.
"""
from __future__ import annotations

from typing import Mapping

from torch import Tensor, nn

from .ops import fused_instance_norm

__all__ = ["SwapModule", "FusedInstanceNorm2d", "swap_modules", "unswap_modules", "swapped_modules"]

_ORIGINAL = "_swapped_from"  # instance attribute: the class a swapped module had


class SwapModule(nn.Module):
    """Base of fast module classes (list it first: ``class Fast(SwapModule, Paper)``)."""

    #: instance attributes (caches) the fast forward may create; dropped when the module is swapped back
    swap_caches: tuple[str, ...] = ()

    @classmethod
    def can_swap(cls, module: nn.Module) -> bool:
        """Whether this instance of the paper class is one the fast forward computes exactly."""
        return True

    def on_unswap(self) -> None:
        """Called just before the original class comes back: drop what the fast forward cached."""
        for name in self.swap_caches:
            self.__dict__.pop(name, None)


def swap_modules(root: nn.Module, table: Mapping[type, type]) -> int:
    """Swap every submodule whose class is exactly a key of ``table`` to its fast class; returns how many."""
    count = 0
    for module in root.modules():
        fast = table.get(type(module))
        if fast is None:
            continue
        if not issubclass(fast, type(module)):
            raise TypeError(f"{fast.__name__} cannot replace {type(module).__name__}: a fast class must subclass "
                            "the module it replaces (it keeps its parameters and state-dict keys)")
        if not fast.can_swap(module):
            continue
        module.__dict__[_ORIGINAL] = type(module)
        module.__class__ = fast
        count += 1
    return count


def unswap_modules(root: nn.Module) -> int:
    """Give every swapped submodule its original class back (and drop the fast caches); returns how many."""
    count = 0
    for module in root.modules():
        original = module.__dict__.pop(_ORIGINAL, None)
        if original is None:
            continue
        if isinstance(module, SwapModule):
            module.on_unswap()
        module.__class__ = original
        count += 1
    return count


def swapped_modules(root: nn.Module) -> dict[str, tuple[type, type]]:
    """``{qualified name: (original class, fast class)}`` of the modules swapped now."""
    return {name: (m.__dict__[_ORIGINAL], type(m)) for name, m in root.named_modules() if _ORIGINAL in m.__dict__}


class FusedInstanceNorm2d(SwapModule, nn.InstanceNorm2d):
    """``InstanceNorm2d`` (no running statistics) as one fused ``x * a + b`` pass, keeping the memory layout."""

    @classmethod
    def can_swap(cls, module: nn.Module) -> bool:
        return not getattr(module, "track_running_stats", True)

    def forward(self, x: Tensor) -> Tensor:
        if self.track_running_stats or x.dim() != 4:
            return super().forward(x)
        return fused_instance_norm(x, self.weight if self.affine else None, self.bias if self.affine else None,
                                   self.eps)
