"""lookoutvision-emulator: the Amazon Lookout for Vision API, served locally."""

__version__ = "0.1.0"
