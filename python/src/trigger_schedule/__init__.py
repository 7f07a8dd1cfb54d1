"""trigger-schedule: start data-update jobs on a job scheduler from a CI/CD pipeline."""

__version__ = "1.0.0"
