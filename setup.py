"""Package metadata; the cffi extensions are built from cffi_build.py (greylogd._nflog) and
cffi_scan_build.py (greylogd._logscan, greylogd._greydscan)."""
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="greylogd",
    version="0.1.0",
    description="Whitelist refresher and weekly report for greyd/spamd greylisting gateways",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["greylogd", "greylogd.*"]),
    package_data={"greylogd": ["report/templates/*", "py.typed"]},
    setup_requires=["cffi>=1.15"],
    cffi_modules=["cffi_build.py:ffibuilder", "cffi_scan_build.py:logscan", "cffi_scan_build.py:greydscan"],
    install_requires=[
        "cffi>=1.15",
        "pandas>=3.0",
        "numpy>=1.26",
        "pyarrow>=14",
        "matplotlib>=3.7",
        "jinja2>=3.1",
        "tqdm>=4.66",
        "psycopg[binary]>=3.1",
        "PyMySQL>=1.1",
        "prometheus-client>=0.19",
        "tldextract>=5.1",
    ],
    extras_require={
        "nfqueue": ["NetfilterQueue>=1.1"],
        "test": [
            "pytest>=7.4",
            "hypothesis>=6.90",
            "aiosmtpd>=1.4",
            "nbclient>=0.9",
            "nbformat>=5.9",
            "ipykernel>=6.25",
            "ruff>=0.4",
            "NetfilterQueue>=1.1",
        ],
    },
    entry_points={
        "console_scripts": [
            "greylogd=greylogd.cli.daemon:main",
            "greylogd-db=greylogd.cli.db:main",
            "greylogd-report=greylogd.cli.report:main",
        ]
    },
)
