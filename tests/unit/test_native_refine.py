"""The synthesis's refinement in C (models/refine_native.py) gives the convolution's values and gradients
within float rounding (the sums in another order: 1e-5 on the values, 1e-4 on the gradients)."""
import pytest
import torch

from inr_codec.models import refine_native

pytestmark = pytest.mark.skipif(refine_native._lib() is None, reason="no C compiler")


@pytest.mark.parametrize("shape", [(2, 9, 13), (1, 1, 5), (3, 16, 8)])
def test_the_refinement_kernel_equals_the_convolution(shape):
    torch.manual_seed(sum(shape))
    b, h, w = shape
    x = torch.randn(3, b, h, w, requires_grad=True)
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(3)
    weight, bias = conv.weight, conv.bias
    xb = x.transpose(0, 1)
    ref = torch.sigmoid(xb + conv(xb))
    got = refine_native.refine(x, conv)
    assert got.shape == ref.shape and torch.allclose(got, ref, atol=1e-5)
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad((got * g).sum(), [x, weight, bias]),
                    torch.autograd.grad((ref * g).sum(), [x, weight, bias])):
        assert torch.allclose(a, r, rtol=1e-4, atol=1e-5)


def test_other_shapes_and_dtypes_are_left_to_the_convolution():
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    assert refine_native.refine(torch.zeros(4, 1, 3, 3), conv) is None
    assert refine_native.refine(torch.zeros(3, 1, 3, 3, dtype=torch.float64), conv) is None
    assert refine_native.refine(torch.zeros(3, 1, 3, 3), torch.nn.Conv2d(3, 3, 3, padding=2)) is None
