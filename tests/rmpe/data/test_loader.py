"""The one DataLoader recipe (rmpe.data.loader): batches independent of the workers, seeding as before.

References: the same data set read sample by sample without a DataLoader, and a plain
``torch.utils.data.DataLoader`` for the global-generator draw that resumed training relies on.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from rmpe.data.annotations import load_coco_persons
from rmpe.data.augment import Augmentation
from rmpe.data.dataset import COCOKeypointDataset
from rmpe.data.loader import build_loader, collate_samples, worker_init
from rmpe.keypoints import COCO
from rmpe.train.sampler import EpochSampler
from tests.rmpe.data.test_dataset import make_keypoint_dataset

KEYS = ("image", "keypoints", "visible", "centred", "matrix", "index", "valid")


def _augmented(tmp_path):
    ann, img_dir, _ = make_keypoint_dataset(tmp_path, num_images=3, people_per_image=2, seed=11)
    persons = load_coco_persons(str(ann), str(img_dir), 17, check_images=True)
    aug = Augmentation(scale_factor=0.3, rotation_factor=40, rotation_prob=0.6, flip=True, photometric=True)
    return COCOKeypointDataset(persons, keypoint_set=COCO, input_size=(64, 48), augmentation=aug, seed=9)


def _epoch(loader):
    return [batch for batch in loader]


def test_batches_do_not_depend_on_workers_or_their_seeds(tmp_path):
    ds = _augmented(tmp_path)
    sampler = EpochSampler(len(ds), seed=9)
    sampler.set_epoch(2)
    torch.manual_seed(0)
    plain = _epoch(build_loader(ds, batch_size=4, sampler=sampler, num_workers=0))
    torch.manual_seed(123)  # other worker base seeds
    workers = _epoch(build_loader(ds, batch_size=4, sampler=sampler, num_workers=2))
    # reference: the samples fetched one by one, in the sampler's order
    keys = list(iter(sampler))
    reference = collate_samples([ds[k] for k in keys])
    assert len(plain) == len(workers) == 2
    for key in KEYS:
        got0 = torch.cat([b[key] for b in plain])
        got2 = torch.cat([b[key] for b in workers])
        assert torch.equal(got0, reference[key]) and torch.equal(got2, reference[key]), key


def test_recipe_settings_and_global_generator_draw(tmp_path):
    ds = _augmented(tmp_path)
    loader = build_loader(ds, batch_size=4, num_workers=2, drop_last=True)
    assert loader.worker_init_fn is worker_init and loader.collate_fn is collate_samples
    assert loader.drop_last and not loader.persistent_workers and loader.generator is None
    assert build_loader(ds, batch_size=4).worker_init_fn is None
    # validation order: the data set in order
    batch = next(iter(build_loader(ds, batch_size=3)))
    assert batch["index"].tolist() == [0, 1, 2]
    # one epoch advances torch's global generator exactly as a plain DataLoader does, so
    # the RNG state saved in a checkpoint still resumes the same run
    torch.manual_seed(5)
    _epoch(build_loader(ds, batch_size=4))
    ours = torch.get_rng_state()
    torch.manual_seed(5)
    _epoch(DataLoader(ds, batch_size=4, collate_fn=collate_samples))
    assert torch.equal(ours, torch.get_rng_state())

