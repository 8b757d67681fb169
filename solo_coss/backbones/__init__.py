"""RF-ResNet family and torchvision ResNet wrappers; see docs/architecture.md for the contract."""
