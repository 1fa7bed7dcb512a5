"""pytest plugin: jwst's resample tests with gpuresample's step and engine in place of jwst's.

Loaded by ``run_jwst_suite.py`` with ``-p jwst_substitute`` (this folder on
``PYTHONPATH``) before jwst's test modules are imported, so that their
``from jwst.resample import ResampleStep`` and
``from jwst.resample.resample import ResampleImage`` get
:class:`gpuresample.ResampleStep` and
:class:`gpuresample.jwst_step.GpuResampleImage`.
"""

import jwst.resample
import jwst.resample.resample

import gpuresample
from gpuresample.jwst_step import GpuResampleImage

jwst.resample.ResampleStep = gpuresample.ResampleStep
jwst.resample.resample.ResampleImage = GpuResampleImage


def pytest_report_header(config):
    return "jwst_substitute: jwst.resample.ResampleStep -> gpuresample.ResampleStep, ResampleImage -> GpuResampleImage"
