"""Snapcraft's classic and library linters on ldsim's loader model, ldsim's own lint rules, and
the patchelf fix plan."""
