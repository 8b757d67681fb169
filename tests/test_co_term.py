"""COTerm: pairing and symmetry, targets, position subsets, gradients, DINO centre, config errors."""

import pytest
import torch

from solo_coss.core import COConfig, COTerm, local_global_byol_loss, sample_positions

DIMS = dict(proj_hidden_dim=16, proj_output_dim=8, pred_hidden_dim=16, temperature=0.2, num_prototypes=12,
            student_temperature=0.1, center_momentum=0.9)


def term(loss="byol", momentum=True, **cfg):
    torch.manual_seed(0)
    return COTerm(6, COConfig(**cfg).with_defaults(**DIMS), loss, momentum)


def maps(n=2, b=4):
    torch.manual_seed(1)
    return [torch.randn(b, 6, 3, 3) for _ in range(n)]


@pytest.mark.parametrize("loss", ["byol", "infonce", "dino"])
def test_symmetric_in_the_views(loss):
    co = term(loss).eval()  # eval: BN uses running stats, so the value does not depend on batch composition
    a, b = maps()
    kw = {"teacher_temperature": 0.04} if loss == "dino" else {}
    co.center.zero_() if loss == "dino" else None
    ab = co([a, b], [a, b], **kw)
    if loss == "dino":
        co.center.zero_()
    ba = co([b, a], [b, a], **kw)
    assert ab.item() == pytest.approx(ba.item(), rel=1e-5)


def test_byol_term_equals_mean_of_the_two_directions():
    co = term("byol").eval()
    a, b = maps()
    with torch.no_grad():
        la, lb = co.local_embeddings(a), co.local_embeddings(b)
        ga, gb = co.global_target(a), co.global_target(b)
    expected = (local_global_byol_loss(la, gb) + local_global_byol_loss(lb, ga)) / 2
    assert co([a, b], [a, b]).item() == pytest.approx(expected.item(), rel=1e-6)


def test_targets_pooled_vs_local_mean():
    a = maps(1)[0]
    pooled = term(target="pooled").eval()
    local_mean = term(target="local_mean").eval()
    head = pooled.momentum_projector
    torch.testing.assert_close(pooled.global_target(a), head(a.mean(dim=(2, 3))))
    tokens = a.flatten(2).transpose(1, 2)
    torch.testing.assert_close(local_mean.global_target(a), local_mean.momentum_projector(tokens).mean(1))
    assert not torch.allclose(pooled.global_target(a), local_mean.global_target(a))


def test_sampled_positions_are_distinct_rows_of_their_image():
    tokens = torch.arange(2 * 9 * 3, dtype=torch.float).reshape(2, 9, 3)
    sub = sample_positions(tokens, 4)
    assert sub.shape == (2, 4, 3)
    for b in range(2):  # every sampled row is a distinct row of the same image
        rows = {tuple(r.tolist()) for r in sub[b]}
        assert len(rows) == 4 and rows <= {tuple(r.tolist()) for r in tokens[b]}
    assert term(num_positions=4).local_embeddings(maps(1)[0]).shape == (4, 4, 8)
    assert sample_positions(tokens, None) is tokens


def test_gradients_reach_online_heads_and_maps_not_momentum():
    co = term("byol")
    a, b = [m.requires_grad_() for m in maps()]
    target = [m.detach() for m in (a, b)]
    co([a, b], target).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in co.projector.parameters())
    assert all(p.grad is not None for p in co.predictor.parameters())
    assert all(p.grad is None for p in co.momentum_projector.parameters())
    assert [id(x) for x in co.momentum_pairs()[0]] == [id(co.projector), id(co.momentum_projector)]


def test_simclr_form_has_gradient_through_target():
    co = term("infonce", momentum=False, pred_hidden_dim=0)
    assert co.predictor is None and co.momentum_pairs() == []
    a, b = [m.requires_grad_() for m in maps()]
    co([a, b], [a, b]).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_dino_center_moves_towards_teacher_mean():
    co = term("dino")
    a, b = maps()
    co([a, b], [a, b], teacher_temperature=0.04)
    with torch.no_grad():
        teacher_mean = torch.cat([co.global_target(a), co.global_target(b)]).mean(0, keepdim=True)
    torch.testing.assert_close(co.center, 0.1 * teacher_mean, rtol=1e-4, atol=1e-6)


def test_config_errors_name_valid_choices():
    with pytest.raises(ValueError, match="pooled"):
        COConfig(target="global")
    with pytest.raises(ValueError, match="null .the last stage. or a stage number >= 1"):
        COConfig(stage=0)
    with pytest.raises(ValueError, match="weight"):
        COConfig.from_dict({"wieght": 0.3})
    with pytest.raises(ValueError, match="byol"):
        COTerm(6, COConfig().with_defaults(**DIMS), "barlow", True)


def test_channels_last_maps_reach_the_local_heads_without_a_copy():
    """The local projector's first GEMM reads a channels_last map's storage as (B*H*W, C) rows directly, and
    the gradient it sends back to the backbone is channels_last again (no layout conversion either way)."""
    co = term("byol")
    seen = []
    co.projector.net[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    online = [m.to(memory_format=torch.channels_last).requires_grad_() for m in maps()]
    co(online, [m.detach() for m in online]).backward()
    assert [rows.data_ptr() for rows in seen] == [m.data_ptr() for m in online]
    assert all(rows.shape == (4 * 3 * 3, 6) and rows.is_contiguous() for rows in seen)
    assert all(m.grad.is_contiguous(memory_format=torch.channels_last) for m in online)
    assert not all(m.grad.is_contiguous() for m in online)  # NCHW-contiguous would mean a converted layout
