"""The tutorials' code as the pages print it (docs/tutorials/*.md): every Python block runs, in page order,
and what a page shows as output is what the block prints."""

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from docs_blocks import ROOT, parse, run_by

import solo_coss.backbones.families as families
import solo_coss.core.config as core_config
import solo_coss.methods as methods

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def run_page(page: str, capsys) -> dict:
    """Execute the page's Python blocks in one scope; check each shown output against what its block
    printed."""
    scope: dict = {}
    for block in parse(ROOT / page):
        if block.language != "python":
            continue
        exec(compile(block.code, block.where, "exec"), scope)
        printed = capsys.readouterr().out
        if block.output is not None:
            assert printed == block.output, (
                f"{block.where} prints {printed!r}, the page shows {block.output!r}"
            )
    return scope


@pytest.fixture
def registries():
    """The tutorials register a method and a family; the registries get their entries back afterwards, so
    nothing leaks into other tests."""
    tables = (families.FAMILIES, methods.METHODS, methods.BASELINES, core_config.SPECS)
    saved = [dict(t) for t in tables]
    yield
    for table, entries in zip(tables, saved):
        table.clear()
        table.update(entries)


def test_a_method_of_your_own_takes_the_local_term(request, registries):
    blocks = run_by(request)
    assert [b.page for b in blocks] == ["docs/tutorials/custom-method.md"] * 2
    torch.manual_seed(0)
    scope: dict = {}
    for block in blocks:
        exec(compile(block.code, block.where, "exec"), scope)
    model, out = scope["model"], scope["out"]
    assert type(model).__name__ == "SimSiam" and model.co_term is not None
    torch.testing.assert_close(out["loss"].detach(), out["global_loss"] + 0.3 * out["local_loss"])
    assert out["local_loss"] > 0

    # SimSiam's loss computed directly: -cos(p_i, z_j), averaged over the two directions
    views = [torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)]
    again = model.training_loss(views)
    with torch.no_grad():
        f = [model.backbone(v) for v in views]
        z = [model.projector(x) for x in f]
        p = [model.predictor(x) for x in z]
        expected = (
            -(F.cosine_similarity(p[0], z[1], dim=-1).mean() + F.cosine_similarity(p[1], z[0], dim=-1).mean())
            / 2
        )
    torch.testing.assert_close(again["global_loss"], expected)
    assert -1 <= float(expected) <= 1  # a mean of negative cosines

    # the local target comes from the momentum twin, without gradient; the online local heads learn
    again["loss"].backward()
    assert model.co_term.projector.net[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.co_term.momentum_projector.parameters())
    assert (model.co_term.projector, model.co_term.momentum_projector) in model.momentum_pairs()
    with pytest.raises(ValueError, match=r"method name\(s\) \['simsiam', 'co_simsiam'\] are taken"):
        methods.register_method("simsiam", type(model))


@pytest.mark.slow
@pytest.mark.skipif(not FMNIST.is_dir(), reason="dataset-fashion-mnist missing")
def test_the_method_of_your_own_trains_in_the_standalone_host(
    request, capsys, registries, monkeypatch, tmp_path
):
    """The whole page in a folder holding the repository's scripts/, as a user runs it from the checkout."""
    assert len(run_by(request)) == 2
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    scope = run_page("docs/tutorials/custom-method.md", capsys)
    run = Path(scope["run"]).resolve()
    assert run.parent == tmp_path / "trained_models" / "co_simsiam-fashion-mnist"
    ckpt = torch.load(run / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 7 and ckpt["hyper_parameters"]["cfg"]["method"] == "co_simsiam"
    state = ckpt["state_dict"]
    # the local heads trained: the online projector moved away from its momentum twin
    online = state["method.co_term.projector.net.0.weight"]
    twin = state["method.co_term.momentum_projector.net.0.weight"]
    assert not torch.equal(online, twin)
    for name, value in scope["backbone"].state_dict().items():
        assert torch.equal(value, state[f"method.backbone.{name}"])


def test_a_new_family_is_declared_once_and_read_by_both_hosts(request, capsys, registries):
    assert len(run_by(request)) == 3
    scope = run_page("docs/tutorials/new-backbone.md", capsys)
    backbone, x, local = scope["backbone"], scope["x"], scope["local"]
    # the local map is what the declared module computes, by hand: stage 3 applied to stage 2 to stage 1
    with torch.no_grad():
        direct = x
        for stage in backbone.net.stages:
            direct = stage(direct)
    torch.testing.assert_close(local.detach(), direct)
    torch.testing.assert_close(scope["pooled"].detach(), direct.mean(dim=(2, 3)))
    # co.stage 2: the local heads take the 32-channel map of stage 2
    model, out = scope["model"], scope["loss"]
    assert model.co_stage == 2 and model.co_term.projector.net[0].in_features == 32
    assert out["local_loss"] > 0 and torch.isfinite(out["loss"])
    # the solo-learn host's reader leaves the network's own forward once its block ends
    assert "forward" not in vars(backbone.net)
    # a momentum twin (a deep copy) reads its own maps
    twin = copy.deepcopy(backbone)
    assert torch.equal(twin.global_and_local(x)[1], local)
    with pytest.raises(
        ValueError,
        match=r"co.stage=4 is not valid; tiny_conv \(TinyConvNet, stage k = the map "
        r"after stage k\) has stages 1..3",
    ):
        backbone.resolve_stage(4)
