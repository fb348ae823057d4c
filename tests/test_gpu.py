"""The same updates on the GPU as on the CPU (skipped without CUDA; CI has none)."""

import pytest
import torch

from bioglom import Glom, GlomConfig
from bioglom.data import make_scenes
from bioglom.learning import Batch, build_rule

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.parametrize("columns", ["shared", "unshared"])
@pytest.mark.parametrize("rule,options", [("backprop", {}), ("delta", {}),
                                          ("temporal_derivative", {"hidden_credit": "local_backprop"}),
                                          ("temporal_derivative", {"hidden_credit": "feedback_alignment"}),
                                          ("temporal_derivative", {"hidden_credit": "frozen"})])
def test_rule_update_matches_cpu(columns, rule, options):
    cfg = GlomConfig(levels=3, dim=16, image_size=8, patch_size=2, channels=3, hidden=32, radius=(1, 2, 3),
                     columns=columns, column_init="independent")
    sc = make_scenes(8, image_size=8, objects=(1, 2), scale=(0.3, 0.5), seed=0)
    batch = Batch(sc.images, sc.images, torch.ones_like(sc.images))
    grads = []
    for device in ("cpu", "cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        model = Glom(cfg).double().to(device)
        r = build_rule(rule, steps=3, **options)
        r.accumulate(model, Batch(*(None if t is None else t.double() for t in batch)).to(device))
        grads.append({k: p.grad.cpu() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        torch.testing.assert_close(grads[1][k], grads[0][k], rtol=1e-7, atol=1e-10, msg=k)
