"""ldsim: a static model of the Linux dynamic loader.

It answers, without running anything, which file the loader opens for every DT_NEEDED of a
program in a root filesystem, in which order, and why.
"""

__version__ = "0.1.0"
