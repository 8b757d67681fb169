"""Hydra overrides as the CLIs take them: values holding "=" quoted, unknown --options refused by name."""

import pytest

from solo_coss.experiments import compare
from solo_coss.hosts import cli
from solo_coss.hosts.overrides import quote_values


def test_values_with_equals_are_quoted_once():
    argv = ["pretrained_feature_extractor=runs/a/byol-ep=9.ckpt", "max_epochs=2", "x='a=b'", "--config-path"]
    assert quote_values(argv) == ["pretrained_feature_extractor='runs/a/byol-ep=9.ckpt'", "max_epochs=2",
                                  "x='a=b'", "--config-path"]


@pytest.mark.parametrize("main,argv,bad", [
    (cli.knn, ["--config-path", "x", "--config-name", "y", "--kk", "knn.k=[3]"], "--kk"),
    (compare.main, ["fashion-mnist", "byol", "co_byol", "--sedes", "5"], "--sedes"),
])
def test_an_unknown_option_is_refused_by_name(main, argv, bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"unknown option(s) ['{bad}']" in capsys.readouterr().err
