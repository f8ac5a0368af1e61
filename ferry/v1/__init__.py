"""Generated from protos/ferry/v1 by `make proto`; do not edit."""
