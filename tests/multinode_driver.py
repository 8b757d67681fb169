"""solo-coss-pretrain as one node of tests/test_multinode.py sees it, plus two taps written to $TAP_DIR:
the indexes of the training images this rank read (seen-<rank>.json) and its final parameters
(weights-<rank>.pt). Run as a script: ``python tests/multinode_driver.py --config-path ... key=value``."""

import json
import os
import sys
from pathlib import Path

import torch

from solo_coss.data.fashion_mnist import FashionMNIST
from solo_coss.hosts import cli
from solo_coss.hosts.standalone.module import PretrainModule

TAP = Path(os.environ["TAP_DIR"])
seen: list[int] = []
read_item = FashionMNIST.__getitem__


def tapped_getitem(self, index):
    if self.train:
        seen.append(int(index))
    return read_item(self, index)


def tapped_train_end(self):
    rank = self.trainer.global_rank
    torch.save({k: v.detach().clone() for k, v in self.named_parameters()}, TAP / f"weights-{rank}.pt")
    (TAP / f"seen-{rank}.json").write_text(json.dumps(seen))


FashionMNIST.__getitem__ = tapped_getitem
PretrainModule.on_train_end = tapped_train_end

if __name__ == "__main__":
    cli.pretrain(sys.argv[1:])
