"""bench speed's population sweep divides by the FLOPs of a real train step."""

import torch

from bench.gan import variants
from bench.speed import trainer as speed


def test_a_steps_flops_grow_with_its_batch():
    """seed000-fc is linear layers only, each 2*batch*in*out FLOPs forward and twice that
    backward, so one counted step costs exactly twice as much at twice the batch."""
    images, labels = torch.randint(0, 256, (512, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (512,))
    small, large = (speed.step_flops(variants.get("seed000-fc").config(["update=alternating", f"batch_size={b}"]), images, labels)
                    for b in (32, 64))
    assert small > 0 and large == 2 * small
