"""solo-coss-export: a run's backbone (either host) as .safetensors + .json, loaded back by downstream code
(timm.create_model, build_backbone, torchvision) with bit-identical outputs."""

import json
import shlex
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from docs_blocks import commands, run_by
from helpers import TINY_OVERRIDES
from safetensors.torch import load_file
from test_pretrained import solo_like_run

from solo_coss.backbones import build_backbone, list_backbones
from solo_coss.backbones.exported import load_exported_backbone, save_backbone
from solo_coss.hosts.export import main as export_main
from solo_coss.hosts.pretrained import load_pretrained
from solo_coss.hosts.standalone.config import load_config, resolve_pretrain_config
from solo_coss.hosts.standalone.module import PretrainModule

ROOT = Path(__file__).resolve().parents[1]


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial weights and BatchNorm statistics, so that eval-mode outputs depend on every tensor."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5 if "running_var" in name else
                        torch.randn(t.shape, generator=g) * 0.1)


def standalone_run(folder: Path) -> Path:
    """A standalone pretraining checkpoint (co_byol, quarter-width rf29_resnet18), as Lightning writes it."""
    overrides = [o for o in TINY_OVERRIDES if not o.startswith("+")]
    cfg = resolve_pretrain_config(load_config(str(ROOT / "scripts/pretrain/fashion-mnist"), "co_byol.yaml", overrides))
    module = PretrainModule(cfg)
    randomise(module)
    folder.mkdir(parents=True)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": {"cfg": cfg}, "epoch": 0}, folder / "last.ckpt")
    return folder


def export(run: Path, out: Path, *flags: str) -> dict:
    export_main([str(run), "--out", str(out), *flags])
    return json.loads(out.with_suffix(".json").read_text())


def test_rf_resnet_run_loads_into_timm_bit_identically(tmp_path, capsys):
    run = standalone_run(tmp_path / "run")
    spec = export(run, tmp_path / "out" / "co_byol.safetensors")
    assert f"backbone weights: {tmp_path / 'out' / 'co_byol.safetensors'}" in capsys.readouterr().out
    assert spec["name"] == "rf29_resnet18" and spec["kwargs"] == {"widths": [8, 16, 32, 64]}
    assert spec["method"] == "co_byol" and spec["receptive_field"] == 29 and spec["num_features"] == 64
    reference, _ = load_pretrained(run)
    model = timm.create_model(spec["name"], **spec["kwargs"])
    model.load_state_dict(load_file(tmp_path / "out" / "co_byol.safetensors"))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(model.eval()(x), expected)
        assert torch.equal(load_exported_backbone(tmp_path / "out" / "co_byol.safetensors")(x), expected)
        assert torch.equal(model.forward_features(x), reference.forward_features(x))  # the local maps too


def test_the_readme_one_liner_runs_as_written(tmp_path, monkeypatch, capsys, request):
    """docs/export.md's command and Python lines, as printed there, on a run named as the page names it."""
    command, code = run_by(request)
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(commands(command)[0])
    assert argv[0] == "solo-coss-export"
    run = standalone_run(tmp_path / argv[1])
    export_main(argv[1:])
    shown = [line.removeprefix("# ") for line in command.code.splitlines() if line.startswith("# ")]
    assert capsys.readouterr().out.splitlines()[-len(shown):] == shown
    scope: dict = {}
    exec(compile(code.code, code.where, "exec"), scope)
    reference, _ = load_pretrained(run)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(scope["model"].eval()(x), reference(x))


def test_solo_learn_torchvision_resnet_round_trips(tmp_path):
    path, reference = solo_like_run(tmp_path / "run")  # CIFAR stem: build_backbone(..., cifar_stem=True)
    spec = export(path, tmp_path / "r18.safetensors")
    assert spec["name"] == "resnet18" and spec["kwargs"] == {"cifar_stem": True} and spec["method"] == "byol"
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_exported_backbone(tmp_path / "r18.safetensors")(x), load_pretrained(path)[0](x))
        torch.testing.assert_close(load_exported_backbone(tmp_path / "r18.safetensors")(x), reference(x))
    with pytest.raises(SystemExit, match="torchvision keys need a torchvision ResNet with its ImageNet stem"):
        export(path, tmp_path / "tv.safetensors", "--torchvision-keys")


def test_torchvision_keys_load_into_torchvision(tmp_path):
    path, _ = solo_like_run(tmp_path / "run", dataset="imagenet")  # the ImageNet stem
    spec = export(path, tmp_path / "tv.safetensors", "--torchvision-keys")
    assert spec["keys"] == "torchvision"
    net = torchvision.models.resnet18()
    net.fc = torch.nn.Identity()
    net.load_state_dict(load_file(tmp_path / "tv.safetensors"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        # torchvision pools with AdaptiveAvgPool2d, the wrapper with a mean: equal up to float rounding
        torch.testing.assert_close(net.eval()(x), load_pretrained(path)[0](x), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="torchvision's key names"):
        load_exported_backbone(tmp_path / "tv.safetensors")


# the smallest of each family in the default suite, the larger ones (up to ViT-Large) slow
SMALLEST = {"rf29_resnet18", "resnet18", "vit_micro", "swin_tiny", "convnext_tiny", "poolformer_s12", "wide_resnet28w2"}


@pytest.mark.parametrize("name", [n if n in SMALLEST else pytest.param(n, marks=pytest.mark.slow) for n in list_backbones()])
def test_every_backbone_family_round_trips(tmp_path, name):
    """Through build_backbone's name and kwargs: every family it knows, today's and those added later."""
    model = build_backbone(name)
    randomise(model, seed=1)
    save_backbone(model, name, {}, tmp_path / f"{name}.safetensors")
    loaded = load_exported_backbone(tmp_path / f"{name}.safetensors")
    assert type(loaded) is type(model)
    state = model.state_dict()
    assert loaded.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())


def test_bad_output_names_are_one_line(tmp_path):
    run = standalone_run(tmp_path / "run")
    with pytest.raises(SystemExit, match=r"solo-coss-export: error: --out .*\.pt: name the file \*\.safetensors"):
        export(run, tmp_path / "x.pt")
