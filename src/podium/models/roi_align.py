"""RoIAlign as Mask R-CNN's reference computes it, in torch: batched, differentiable, on any device.

The semantics are maskrcnn-benchmark's `ROIAlign` (mlcommons/training retired_benchmarks/maskrcnn/pytorch/
maskrcnn_benchmark/csrc/cpu/ROIAlign_cpu.cpp, the "aligned=False" RoIAlign of Detectron):
- a RoI (x1, y1, x2, y2) in image pixels is scaled by `spatial_scale`, with no half-pixel offset and no rounding;
  its width and height are at least 1 (malformed RoIs become 1x1);
- each of the output's `pooled_h x pooled_w` bins averages a `grid_h x grid_w` grid of bilinear samples at
  `start + bin * (i + 0.5) / grid`; the grid is `sampling_ratio` per side, or `ceil(roi size / pooled size)` when
  `sampling_ratio` is 0 (adaptive, per RoI);
- a sample beyond one pixel outside the feature map (y < -1, y > height, x < -1, x > width) counts as 0, and
  still counts in the average; a sample within that margin is clamped to the map's edge.

Bilinear sampling is torch's `grid_sample` (align_corners=True maps the normalized -1..1 to pixel centres
0..size-1, the reference's pixel coordinates), on clamped coordinates times a validity mask, one call per image
and grid size; its backward gives the gradient with respect to the features (the RoIs get none, as in the
reference). torch is imported when the function runs: the model registry imports this module without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def roi_align(features: Tensor, rois: Tensor, output_size: int | tuple[int, int], spatial_scale: float,
              sampling_ratio: int) -> Tensor:
    """(R, C, pooled_h, pooled_w) pooled features of `features` (N, C, H, W) under `rois` (R, 5): rows of
    [image index in the batch, x1, y1, x2, y2] in input pixels."""
    import torch

    pooled = (output_size, output_size) if isinstance(output_size, int) else output_size
    out = features.new_zeros((rois.shape[0], features.shape[1], *pooled))
    if rois.shape[0] == 0:
        return out
    boxes = rois[:, 1:].to(features.dtype) * spatial_scale
    start = boxes[:, :2]
    size = (boxes[:, 2:] - start).clamp(min=1.0)   # (R, [w, h])
    if sampling_ratio > 0:
        grids = torch.full((rois.shape[0], 2), sampling_ratio, dtype=torch.int64, device=rois.device)
    else:
        grids = torch.ceil(size / size.new_tensor([pooled[1], pooled[0]])).to(torch.int64)
    images = rois[:, 0].to(torch.int64)
    keys = torch.stack([images, grids[:, 0], grids[:, 1]], dim=1)
    for image, grid_w, grid_h in torch.unique(keys, dim=0).tolist():
        chosen = torch.nonzero((keys == keys.new_tensor([image, grid_w, grid_h])).all(dim=1)).squeeze(1)
        out[chosen] = _pool_one_grid(features[image:image + 1], start[chosen], size[chosen], pooled,
                                     (grid_h, grid_w))
    return out


def _pool_one_grid(feature: Tensor, start: Tensor, size: Tensor, pooled: tuple[int, int],
                   grid: tuple[int, int]) -> Tensor:
    """RoIs of one image that share a sampling grid: (R, C, pooled_h, pooled_w)."""
    import torch
    import torch.nn.functional as F

    height, width = feature.shape[-2:]
    ys = _sample_points(start[:, 1], size[:, 1], pooled[0], grid[0])   # (R, pooled_h * grid_h)
    xs = _sample_points(start[:, 0], size[:, 0], pooled[1], grid[1])   # (R, pooled_w * grid_w)
    y, x = ys[:, :, None].expand(-1, -1, xs.shape[1]), xs[:, None, :].expand(-1, ys.shape[1], -1)
    valid = (y >= -1.0) & (y <= height) & (x >= -1.0) & (x <= width)
    normalized = torch.stack([_normalize(x.clamp(0, width - 1), width), _normalize(y.clamp(0, height - 1), height)],
                             dim=-1)
    rois = ys.shape[0]
    samples = F.grid_sample(feature, normalized.reshape(1, rois * ys.shape[1], xs.shape[1], 2), mode="bilinear",
                            padding_mode="border", align_corners=True)[0]   # (C, R * PH * gh, PW * gw)
    samples = samples * valid.reshape(1, rois * ys.shape[1], xs.shape[1]).to(samples.dtype)
    averaged = F.avg_pool2d(samples[None], kernel_size=grid, stride=grid)[0]   # (C, R * PH, PW)
    return averaged.reshape(-1, rois, pooled[0], pooled[1]).permute(1, 0, 2, 3)


def _sample_points(start: Tensor, extent: Tensor, bins: int, grid: int) -> Tensor:
    """(R, bins * grid) sample coordinates along one axis: start + bin * b + (i + 0.5) * bin / grid."""
    import torch

    bin_size = extent / bins
    steps = torch.arange(bins * grid, device=start.device, dtype=start.dtype)
    offsets = (steps // grid) + ((steps % grid) + 0.5) / grid   # in units of bins
    return start[:, None] + offsets[None, :] * bin_size[:, None]


def _normalize(pixel: Tensor, extent: int) -> Tensor:
    """Pixel coordinates 0..extent-1 -> grid_sample's -1..1 (align_corners=True); a 1-pixel axis maps to 0."""
    if extent <= 1:
        return pixel * 0.0
    return pixel * (2.0 / (extent - 1)) - 1.0

