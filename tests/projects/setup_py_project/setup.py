from setuptools import find_packages, setup

setup(
    name="setup-py-project",
    version="0.2.0",
    packages=find_packages(exclude=["tests"]),
    install_requires=["dagster", "pandas"],
    extras_require={"dev": ["pytest"]},
)
