"""Console scripts: rmpe-demo, rmpe-train, rmpe-eval, rmpe-synth, rmpe-pgpg."""
