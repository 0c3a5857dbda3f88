"""cvspec: declarative Azure AI Custom Vision projects, planned and applied like Terraform."""

__version__ = "0.1.0"
