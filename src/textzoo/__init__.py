"""textzoo: classic text-classification models, faithful to their papers and easy to run."""

__version__ = "0.1.0"
