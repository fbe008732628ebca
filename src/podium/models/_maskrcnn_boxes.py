"""Mask R-CNN's box arithmetic in torch, in the reference's inclusive pixel convention (a box's width is
x2 - x1 + 1): IoU, the box coder, clipping, non-maximum suppression, the matcher, the balanced sampler and the
smooth L1 loss, as maskrcnn-benchmark computes them.

Follows mlcommons/training retired_benchmarks/maskrcnn/pytorch/maskrcnn_benchmark: structures/boxlist_ops.py,
modeling/{box_coder,matcher,balanced_positive_negative_sampler}.py, layers/{nms,smooth_l1_loss}.py. Suppression is
exact greedy NMS (the reference's CUDA kernel's result) computed in blocks of pairwise overlaps on the boxes'
device, since torchvision does not install here. torch is imported at the top: this private module is imported
only when a model is built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # BoxCoder: dw, dh are clamped here before exp
# Ranked boxes whose pairwise overlaps `suppress` holds at once: 1024 x 1024 float64 (8 MiB) on the device.
NMS_BLOCK = 1024
Target = dict[str, Any]


# -- boxes, in the reference's inclusive pixel convention -------------------------------------------------------
def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """(len(a), len(b)) IoU with areas (x2 - x1 + 1) * (y2 - y1 + 1) (structures/boxlist_ops.boxlist_iou)."""
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left + 1).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def encode(gt: Tensor, boxes: Tensor, weights: tuple[float, ...]) -> Tensor:
    """Regression targets of `gt` relative to `boxes` (BoxCoder.encode)."""
    wx, wy, ww, wh = weights
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    gw, gh = gt[:, 2] - gt[:, 0] + 1, gt[:, 3] - gt[:, 1] + 1
    dx = wx * ((gt[:, 0] + 0.5 * gw) - (boxes[:, 0] + 0.5 * w)) / w
    dy = wy * ((gt[:, 1] + 0.5 * gh) - (boxes[:, 1] + 0.5 * h)) / h
    return torch.stack([dx, dy, ww * torch.log(gw / w), wh * torch.log(gh / h)], dim=1)


def decode(codes: Tensor, boxes: Tensor, weights: tuple[float, ...]) -> Tensor:
    """Boxes from `codes` (R, 4k) relative to `boxes` (R, 4): (R, 4k) (BoxCoder.decode)."""
    boxes = boxes.to(codes.dtype)
    wx, wy, ww, wh = weights
    w, h = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
    cx, cy = boxes[:, 0:1] + 0.5 * w, boxes[:, 1:2] + 0.5 * h
    dx, dy = codes[:, 0::4] / wx, codes[:, 1::4] / wy
    dw, dh = (codes[:, 2::4] / ww).clamp(max=BBOX_XFORM_CLIP), (codes[:, 3::4] / wh).clamp(max=BBOX_XFORM_CLIP)
    px, py, pw, ph = dx * w + cx, dy * h + cy, torch.exp(dw) * w, torch.exp(dh) * h
    out = torch.stack([px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw - 1, py + 0.5 * ph - 1], dim=2)
    return out.reshape(codes.shape)


def clip(boxes: Tensor, height: int, width: int) -> Tensor:
    """BoxList.clip_to_image: x into 0..width-1, y into 0..height-1."""
    x = boxes[..., 0::2].clamp(0, width - 1)
    y = boxes[..., 1::2].clamp(0, height - 1)
    return torch.stack([x[..., 0::2], y[..., 0::2], x[..., 1::2], y[..., 1::2]], dim=-1).reshape(boxes.shape)


def suppress(boxes: Tensor, scores: Tensor, threshold: float, keep_at_most: int = -1) -> Tensor:
    """Indices kept by the reference's NMS (inclusive boxes), best first, at most `keep_at_most` (-1: all).

    Greedy in descending score (ties: the lower index first), a box dropped when its IoU with a kept box is over
    `threshold`: `podium.models.boxes.nms` on (x1, y1, x2 + 1, y2 + 1), the reference's "+1" NMS, to the last bit
    (float64, the same arithmetic). Computed a block of ranked boxes at a time on their device: the block's
    overlaps with the boxes kept so far and with one another in two matrix operations, then one pass over the
    block's rows of overlaps in numpy (`_greedy`), so that the Python work is a few operations per box."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores.detach(), descending=True, stable=True).indices
    ranked = boxes.detach()[order].double() + boxes.new_tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    limit = len(order) if keep_at_most < 0 else keep_at_most
    kept: list[int] = []
    for first in range(0, len(order), NMS_BLOCK):
        if len(kept) >= limit:
            break
        block = ranked[first:first + NMS_BLOCK]
        alive = torch.ones(len(block), dtype=torch.bool, device=block.device)
        if kept:
            alive &= ~(_exclusive_iou(ranked[kept], block) > threshold).any(dim=0)
        overlaps = (_exclusive_iou(block, block) > threshold).triu(diagonal=1)
        kept += [first + i for i in _greedy(overlaps.cpu().numpy(), alive.cpu().numpy(), limit - len(kept))]
    return order[torch.as_tensor(kept, dtype=torch.int64, device=boxes.device)]


def _exclusive_iou(a: Tensor, b: Tensor) -> Tensor:
    """(len(a), len(b)) IoU of boxes with exclusive corners, 0 where the union is empty: `podium.models.boxes`'s
    arithmetic, operation for operation."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = (torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.where(union > 0, torch.ones_like(union)), torch.zeros_like(inter))


def _greedy(overlaps: np.ndarray, alive: np.ndarray, limit: int) -> list[int]:
    """The rows kept by greedy suppression over ranked boxes: row i is kept unless dropped already, and then
    drops every later row it overlaps (`overlaps` is strictly upper triangular); at most `limit` rows."""
    dropped, kept = ~alive, []
    for i in range(len(dropped)):
        if dropped[i]:
            continue
        kept.append(i)
        if len(kept) >= limit:
            break
        dropped |= overlaps[i]
    return kept


# -- matching and sampling -------------------------------------------------------------------------------------
BELOW_LOW, BETWEEN = -1, -2


def match(iou: Tensor, high: float, low: float, low_quality: bool) -> Tensor:
    """Per prediction (column of `iou` (G, P)): the matched ground truth, BELOW_LOW or BETWEEN (Matcher); with
    `low_quality`, each ground truth also keeps the predictions it overlaps most (ties included)."""
    best, matches = iou.max(dim=0)
    result = matches.clone()
    result[best < low] = BELOW_LOW
    result[(best >= low) & (best < high)] = BETWEEN
    if low_quality:
        highest = iou.max(dim=1).values
        _, chosen = torch.nonzero(iou == highest[:, None], as_tuple=True)
        result[chosen] = matches[chosen]
    return result


def sample(labels: Tensor, batch: int, positive_fraction: float) -> tuple[Tensor, Tensor]:
    """(positive, negative) indices drawn at random: up to batch * fraction labels >= 1, the rest of `batch` from
    labels == 0 (BalancedPositiveNegativeSampler)."""
    positive = torch.nonzero(labels >= 1).squeeze(1)
    negative = torch.nonzero(labels == 0).squeeze(1)
    positives = min(positive.numel(), int(batch * positive_fraction))
    negatives = min(negative.numel(), batch - positives)
    positive = positive[torch.randperm(positive.numel(), device=labels.device)[:positives]]
    negative = negative[torch.randperm(negative.numel(), device=labels.device)[:negatives]]
    return positive, negative


def smooth_l1(x: Tensor, y: Tensor, beta: float) -> Tensor:
    """Summed smooth L1 with the reference's `beta` (layers/smooth_l1_loss.py)."""
    n = torch.abs(x - y)
    return torch.where(n < beta, 0.5 * n**2 / beta, n - 0.5 * beta).sum()
