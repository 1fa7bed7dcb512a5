"""stpipe's ``stpipe.steps`` entry point (imports nothing: stpipe lists steps without importing them)."""

__all__ = ["get_steps"]


def get_steps():
    """``[(class name, alias, is a pipeline)]`` of the stpipe steps gpuresample provides."""
    return [("gpuresample.ResampleStep", "gpuresample_resample", False)]
