"""A ResNet-18 trained from scratch on MiraBest FR I / FR II radio galaxies: the supervised baseline.

Trains ``SupervisedClassifier("resnet18", weights=None)`` with its defaults
(native 150 px, one channel, robust per-image standardization, a random flip
and 90-degree rotation per image, AdamW lr 1e-3) on the MiraBest confident
train split and prints the macro F1 and the confusion matrix on its test
split. 25 epochs take a few minutes on a GPU and tens of minutes on a CPU;
``--epochs 2 --n-train 64`` is a quick check.

    python examples/supervised_baseline_mirabest.py --data ../shared/data/radio/mirabest/mirabest_confident.npz
"""

import argparse
import time

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score

from astrofmx.classification import SupervisedClassifier
from astrofmx.datasets import load_mirabest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/radio/mirabest/mirabest_confident.npz",
                        help="mirabest_confident.npz (or a folder holding it)")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--n-train", type=int, default=None, help="train on this many images only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train = load_mirabest(args.data, split="train")
    test = load_mirabest(args.data, split="test")
    x, y = train.images, train.labels
    if args.n_train:
        keep = np.random.default_rng(args.seed).permutation(len(y))[:args.n_train]
        x, y = x[keep], y[keep]
    t0 = time.perf_counter()
    clf = SupervisedClassifier("resnet18", weights=None, epochs=args.epochs, random_state=args.seed,
                               progress_bar=True).fit(x, y)
    pred = clf.predict(test.images)
    print(f"trained on {len(y)} images ({clf.image_size_} px, {clf.n_channels_} channel) for {clf.n_epochs_} epochs "
          f"in {time.perf_counter() - t0:.0f} s")
    print(f"test macro F1 {f1_score(test.labels, pred, average='macro'):.3f} on {len(pred)} images")
    print("confusion matrix (rows: true FRI, FRII):")
    print(confusion_matrix(test.labels, pred))


if __name__ == "__main__":
    main()
