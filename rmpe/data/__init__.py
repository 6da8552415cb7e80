"""Data: reading COCO keypoint files and images, the data set, the loader, the synthetic world.

* :mod:`rmpe.data.annotations`: the one reader of COCO keypoint annotation files and of images;
* :mod:`rmpe.data.dataset`: :class:`~rmpe.data.dataset.COCOKeypointDataset`, one sample per person;
* :mod:`rmpe.data.augment`: the per-sample random affine and photometric jitter;
* :mod:`rmpe.data.loader`: the one DataLoader recipe (collation, worker set-up);
* :mod:`rmpe.data.synthetic`: the synthetic people world (images, video, COCO files).

Nothing is imported here, so importing a submodule stays cheap.
"""
