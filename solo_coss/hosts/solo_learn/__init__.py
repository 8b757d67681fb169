"""solo-learn host: CO methods and RF-ResNets registered into an installed solo-learn.

    from solo_coss.hosts.solo_learn import register; register()
    solo-coss-pretrain --host solo-learn --config-path scripts/pretrain/cifar --config-name co_byol.yaml
    data.train_path=/data/cifar
"""

from solo_coss.hosts.solo_learn.register import INSTALL_HINT, register
from solo_coss.hosts.solo_learn.runner import run, solo_root

__all__ = ["INSTALL_HINT", "register", "run", "solo_root"]
